"""Markdown file operations through the real MCP client in memory, on real files in a temp dir."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from mcp import Client

from mcp_server.config import Config
from mcp_server.server import build_server
from mcp_server.workspace import Workspace, WorkspaceError


async def _op(client: Client, **args: Any) -> Any:
    return await client.call_tool("file_operation", args)


async def test_create_read_append_insert_follow_the_seed_contract(config: Config) -> None:
    async with Client(build_server(config), raise_exceptions=True) as client:
        created = await _op(client, operation="create", content="# Plan\n\nfirst\n")
        assert created.structured_content["success"] is True
        assert created.structured_content["filepath"] == "output.md"
        await _op(client, operation="append", content="last")
        await _op(client, operation="insert", line_number=3, content="second")
        read = await _op(client, operation="read")
    assert read.structured_content["content"] == "# Plan\n\nsecond\nfirst\nlast\n"
    assert (config.workspace_dir / "output.md").read_text() == "# Plan\n\nsecond\nfirst\nlast\n"


async def test_create_refuses_to_clobber_and_write_keeps_a_backup(config: Config) -> None:
    async with Client(build_server(config)) as client:
        await _op(client, operation="create", filename="a.md", content="v1")
        again = await _op(client, operation="create", filename="a.md", content="v2")
        assert again.is_error and "already exists" in again.content[0].text
        await _op(client, operation="write", filename="a.md", content="v2")
        restored = await _op(client, operation="restore", filename="a.md")
        assert not restored.is_error
    assert (config.workspace_dir / "a.md").read_text() == "v1"


async def test_read_pages_large_files_by_lines(config: Config) -> None:
    (config.workspace_dir).mkdir(parents=True, exist_ok=True)
    (config.workspace_dir / "big.md").write_text("".join(f"line {i}\n" for i in range(1, 501)))
    async with Client(build_server(config), raise_exceptions=True) as client:
        first = await _op(client, operation="read", filename="big.md", max_lines=100)
        second = await _op(client, operation="read", filename="big.md", start_line=101, max_lines=100)
    assert first.structured_content["total_lines"] == 500
    assert first.structured_content["next_start_line"] == 101
    assert first.structured_content["content"].splitlines()[-1] == "line 100"
    assert second.structured_content["content"].splitlines()[0] == "line 101"


async def test_replace_is_literal_counts_and_dry_run_changes_nothing(config: Config) -> None:
    async with Client(build_server(config), raise_exceptions=True) as client:
        await _op(client, operation="write", filename="r.md", content="a.b a.b axb\n")
        preview = await _op(
            client, operation="replace", filename="r.md", pattern="a.b", replacement="$1\\1", dry_run=True
        )
        assert "Would replace 2" in preview.structured_content["message"]
        assert "-a.b a.b axb" in preview.structured_content["diff"]
        assert (config.workspace_dir / "r.md").read_text() == "a.b a.b axb\n"
        done = await _op(client, operation="replace", filename="r.md", pattern="a.b", replacement="$1\\1")
        assert "Replaced 2" in done.structured_content["message"]
    assert (config.workspace_dir / "r.md").read_text() == "$1\\1 $1\\1 axb\n"


async def test_replace_of_missing_text_is_an_error_and_writes_nothing(config: Config) -> None:
    async with Client(build_server(config)) as client:
        await _op(client, operation="write", filename="r.md", content="hello\n")
        missing = await _op(client, operation="replace", filename="r.md", pattern="bye", replacement="x")
    assert missing.is_error and "not found" in missing.content[0].text
    assert (config.workspace_dir / "r.md").read_text() == "hello\n"
    assert not (config.workspace_dir / ".backups").exists()


async def test_save_as_list_backup_delete_and_restore(config: Config) -> None:
    async with Client(build_server(config)) as client:
        await _op(client, operation="write", filename="notes.md", content="keep me\n")
        copy = await _op(client, operation="save_as", filename="notes.md", new_filename="drafts/copy.md")
        assert copy.structured_content["filepath"] == "drafts/copy.md"
        assert copy.structured_content["changed"] == ["drafts/copy.md"]
        refused = await _op(client, operation="save_as", filename="notes.md", new_filename="drafts/copy.md")
        assert refused.is_error
        listed = await _op(client, operation="list")
        assert listed.structured_content["files"] == ["drafts/copy.md", "notes.md"]
        assert listed.structured_content["changed"] == []
        backup = await _op(client, operation="backup", filename="notes.md")
        assert backup.structured_content["content"].startswith("notes.")
        assert backup.structured_content["changed"] == []
        deleted = await _op(client, operation="delete", filename="notes.md")
        assert deleted.structured_content["changed"] == ["notes.md"]
        assert not (config.workspace_dir / "notes.md").exists()
        await _op(client, operation="restore", filename="notes.md")
    assert (config.workspace_dir / "notes.md").read_text() == "keep me\n"


async def test_missing_file_and_missing_arguments_say_what_to_do(config: Config) -> None:
    async with Client(build_server(config)) as client:
        missing = await _op(client, operation="read", filename="nope.md")
        assert missing.is_error and "does not exist" in missing.content[0].text
        no_content = await _op(client, operation="append", filename="x.md")
        assert no_content.is_error and "content" in no_content.content[0].text
        bad_op = await _op(client, operation="explode")
        assert bad_op.is_error


def test_writes_over_the_size_cap_are_refused_and_leave_the_file(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path, max_write_bytes=100)
    workspace.write("a.md", "small")
    try:
        workspace.write("a.md", "x" * 101)
    except WorkspaceError as exc:
        assert "limit is 100" in str(exc)
    else:
        raise AssertionError("an oversized write was accepted")
    assert (tmp_path / "a.md").read_text() == "small"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".tmp-")] == []


async def test_deliverable_gets_the_markdown_frame_during_a_script(config: Config) -> None:
    async with Client(build_server(config), raise_exceptions=True) as client:
        await client.call_tool("load_script", {"script_name": "blog_writer"})
        await _op(client, operation="write", filename="blog_post.md", content="Gardens teach patience.")
        await _op(client, operation="append", filename="blog_post.md", content="## Second thoughts")
        await _op(
            client,
            operation="write",
            filename="blog_post.md",
            content=(config.workspace_dir / "blog_post.md").read_text(),
        )
    text = (config.workspace_dir / "blog_post.md").read_text()
    assert text.startswith("# Blog Post\n")
    assert text.count("*Script used: blog_writer*") == 1
    assert text.index("## Second thoughts") < text.index("*Created on: ")
    assert text.rstrip().endswith("*Script used: blog_writer*")


async def test_a_rewrite_that_copies_the_footer_into_the_text_still_has_one_footer(config: Config) -> None:
    async with Client(build_server(config), raise_exceptions=True) as client:
        await client.call_tool("load_script", {"script_name": "email_workshop"})
        await _op(client, operation="write", filename="heating-email.md", content="Dear Mr. Patel,\n\nThanks.")
        framed = (config.workspace_dir / "heating-email.md").read_text()
        # a small model rewrites the closing line and copies the old frame into the middle of its new text
        await _op(client, operation="write", filename="heating-email.md", content=framed + "\nKind regards.")
    text = (config.workspace_dir / "heating-email.md").read_text()
    assert text.startswith("# Heating Email\n")  # the title from the name, dashes as spaces
    assert text.count("*Created on: ") == 1 and text.count("*Script used: email_workshop*") == 1
    assert text.count("# Heating Email") == 1
    assert text.index("Kind regards.") < text.index("*Created on: ")


async def test_save_as_with_content_writes_it_to_the_name_given(config: Config) -> None:
    async with Client(build_server(config), raise_exceptions=True) as client:
        await client.call_tool("load_script", {"script_name": "improv_game"})
        # "save our story to lighthouse.md": a model picks save_as with the text and no new_filename
        first = await _op(client, operation="save_as", filename="lighthouse.md", content="The keeper meets a gull.")
        # and with both names, the text goes to the new one
        second = await _op(
            client, operation="save_as", filename="story.md", new_filename="gull.md", content="The gull talks."
        )
    assert first.structured_content["changed"] == ["lighthouse.md"]
    assert second.structured_content["changed"] == ["gull.md"]
    assert "The keeper meets a gull." in (config.workspace_dir / "lighthouse.md").read_text()
    assert (config.workspace_dir / "gull.md").read_text().count("*Script used: improv_game*") == 1
    assert not (config.workspace_dir / "story.md").exists()


async def test_workspace_files_are_resources_and_changes_are_notified(config: Config) -> None:
    async with Client(build_server(config), raise_exceptions=True) as client:
        await _op(client, operation="write", filename="a.md", content="one")
        uris = {str(r.uri) for r in (await client.list_resources()).resources}
        assert "workspace://a.md" in uris
        body = await client.read_resource("workspace://a.md")
        assert body.contents[0].text == "one"
        async with client.listen(resource_subscriptions=["workspace://a.md"]) as subscription:
            await _op(client, operation="append", filename="a.md", content="two")
            event = await anext(aiter(subscription))
    assert getattr(event, "uri", None) == "workspace://a.md"


async def test_every_tool_call_leaves_an_audit_line(config: Config) -> None:
    async with Client(build_server(config)) as client:
        await _op(client, operation="write", filename="a.md", content="x" * 5000)
        await _op(client, operation="read", filename="../etc/passwd.md")
    lines = config.audit_log.read_text().splitlines()
    assert len(lines) == 2
    assert '"tool": "file_operation"' in lines[0] and '"outcome": "ok"' in lines[0]
    assert "(5000 chars)" in lines[0] and "x" * 300 not in lines[0]
    assert '"outcome": "error"' in lines[1] and "duration_ms" in lines[1]


async def test_regex_replace_uses_groups_and_refuses_backreferences(config: Config) -> None:
    async with Client(build_server(config)) as client:
        await _op(client, operation="write", filename="r.md", content="hello world\n")
        swapped = await _op(
            client, operation="replace", filename="r.md", pattern=r"(\w+) (\w+)", replacement=r"\2 \1", regex=True
        )
        refused = await _op(client, operation="replace", filename="r.md", pattern=r"(o)\1", replacement="x", regex=True)
    assert not swapped.is_error and (config.workspace_dir / "r.md").read_text() == "world hello\n"
    assert refused.is_error and "no backreferences or lookaround" in refused.content[0].text


async def test_a_catastrophic_regex_neither_hangs_nor_holds_up_another_client(config: Config) -> None:
    """`(a+)+$` on 30 a's and a b backtracks for about a minute in Python's `re`, holding the GIL (so the
    whole server); each more character doubles it."""
    Workspace(config.workspace_dir).write("trap.md", "a" * 30 + "b\n")
    server = build_server(config)
    async with Client(server) as attacker, Client(server) as bystander, asyncio.timeout(30):
        trap = asyncio.create_task(
            _op(attacker, operation="replace", filename="trap.md", pattern="(a+)+$", replacement="x", regex=True)
        )
        listed = await _op(bystander, operation="list")
        trapped = await trap
    assert not listed.is_error
    assert trapped.is_error and "was not found" in trapped.content[0].text
