"""Names, permissions and leftovers: the smaller ways a workspace was found to break (real files, temp dirs)."""

from __future__ import annotations

import logging
import os
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_server.config import Config
from mcp_server.http import QueryRedaction, build_app
from mcp_server.server import build_server
from mcp_server.workspace import LOCK_BUCKETS, OutsideWorkspace, Workspace, WorkspaceError


async def _op(client: Client, **args: Any) -> Any:
    return await client.call_tool("file_operation", args)


def test_a_name_too_long_to_back_up_is_refused_up_front_and_the_longest_allowed_works(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    with pytest.raises(OutsideWorkspace, match="over 200 bytes"):
        workspace.create("n" * 237 + ".md", "x")
    longest = "n" * 197 + ".md"
    workspace.create(longest, "one\n")
    workspace.write(longest, "two\n")  # backed up first: the backup's name must fit too
    workspace.replace(longest, "two", "three")
    workspace.delete(longest)
    assert len(workspace.backups(longest)) == 3


async def test_a_path_a_thousand_folders_deep_gets_a_message_not_a_bare_error(config: Config) -> None:
    async with Client(build_server(config)) as client:
        deep = await _op(client, operation="create", filename="d/" * 1200 + "x.md", content="x")
    assert deep.is_error and "too long or too deep" in deep.content[0].text


@pytest.mark.parametrize("name", ["\u202eevil.md", "a\u0085b.md", "a\u2028b.md", "a\u200bb.md"])
def test_format_and_separator_characters_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(OutsideWorkspace, match="U\\+"):
        Workspace(tmp_path).create(name, "x")
    assert not list(tmp_path.iterdir())


def test_names_typed_in_nfc_or_nfd_are_one_file(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    workspace.create(unicodedata.normalize("NFD", "café.md"), "first\n")
    workspace.append(unicodedata.normalize("NFC", "café.md"), "second")
    assert [name for name, _ in workspace.list_files()] == ["café.md"]
    assert workspace.read(unicodedata.normalize("NFD", "café.md")).content == "first\nsecond\n"


def test_restore_matches_backup_names_literally(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    workspace.create("ab.md", "mine\n")
    workspace.write("ab.md", "mine, changed\n")  # ab.md has a backup; "*.md" has none
    workspace.create("*.md", "theirs\n")
    with pytest.raises(WorkspaceError, match="no backups"):
        workspace.restore("*.md")
    assert (tmp_path / "*.md").read_text() == "theirs\n"


def test_writes_keep_a_files_permissions_and_new_files_follow_the_umask(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    (tmp_path / "shared.md").write_text("x\n")
    (tmp_path / "shared.md").chmod(0o664)
    workspace.write("shared.md", "y\n")
    workspace.create("new.md", "z\n")
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "shared.md").stat().st_mode & 0o777 == 0o664
    assert (tmp_path / "new.md").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_crashed_writes_temp_file_is_removed_when_a_server_starts(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    stale, fresh = tmp_path / "sub" / ".tmp-crashed.part", tmp_path / ".tmp-writing-now.part"
    stale.write_text("half")
    fresh.write_text("half")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    Workspace(tmp_path)
    assert not stale.exists() and fresh.exists()  # a live write's temp file is left alone


def test_lock_files_stay_bounded_however_many_names_are_used(tmp_path: Path) -> None:
    workspace = Workspace(tmp_path)
    for number in range(LOCK_BUCKETS + 100):
        workspace.append(f"n{number}.md", "x")
    assert len(list((tmp_path / ".locks").iterdir())) <= LOCK_BUCKETS


def test_a_token_in_the_query_string_never_reaches_the_access_log(config: Config) -> None:
    build_app(build_server(config), config)
    access = logging.getLogger("uvicorn.access")
    assert any(isinstance(f, QueryRedaction) for f in access.filters)
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "POST", "/mcp?token=s3cret&x=1", "1.1", 401), None,
    )  # fmt: skip
    assert all(f.filter(record) for f in access.filters)
    assert "s3cret" not in record.getMessage() and "/mcp?token=***&x=***" in record.getMessage()
