"""Hostile paths: each is refused and nothing outside the workspace is created or changed.

The parent folder holds the workspace, a secret file beside it, a sibling folder whose name shares
the workspace's prefix, and symlinks inside the workspace that point out.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_server.server import build_server
from tests.servers import make_config

HOSTILE = [
    "../secret.md",
    "../../etc/passwd",
    "/etc/passwd",
    "/tmp/evil.md",
    "..",
    ".",
    "",
    "   ",
    "~/evil.md",
    "~root/evil.md",
    "a/../../secret.md",
    "a/../b.md",
    "./../secret.md",
    "..\\secret.md",
    "sub\\..\\..\\x.md",
    "x.md\x00.txt",
    "x\x00.md",
    "line\nbreak.md",
    "tab\t.md",
    "esc\x1b[31m.md",
    "del\x7f.md",
    "secret.exe",
    "script.py",
    "noextension",
    "archive.md.sh",
    ".hidden.md",
    ".backups/a.md",
    ".sessions/default.md",
    ".audit.log",
    ".locks/x.md",
    "escape.md",
    "linkdir/x.md",
    "dangling.md",
    "linkdir/../../secret.md",
    "../workspace-evil/x.md",
    "../workspace/../secret.md",
    "//etc/passwd.md",
    "a" * 300 + ".md",
    "deep/" * 40 + "../" * 41 + "secret.md",
    "folder.md",
    "sub/.git/config.md",
    "...",
]


def _snapshot(root: Path, skip: Path) -> dict[str, str]:
    """Every path under `root` except inside `skip`, with a content hash (or link target)."""
    state: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        if here == skip or skip in here.parents:
            continue
        for name in dirnames + filenames:
            path = here / name
            if path.is_symlink():
                state[str(path)] = "->" + os.readlink(path)
            elif path.is_file():
                state[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                state[str(path)] = "dir"
    return state


@pytest.fixture
def arena(tmp_path: Path) -> dict[str, Any]:
    parent = tmp_path / "parent"
    config = make_config(parent)
    ws = config.workspace_dir
    ws.mkdir(parents=True)
    (parent / "secret.md").write_text("top secret\n")
    (parent / "workspace-evil").mkdir()
    (parent / "outside").mkdir()
    (ws / "escape.md").symlink_to(parent / "secret.md")
    (ws / "linkdir").symlink_to(parent / "outside", target_is_directory=True)
    (ws / "dangling.md").symlink_to(parent / "created-outside.md")
    (ws / "folder.md").mkdir()
    (ws / "real.md").write_text("inside\n")
    return {"parent": parent, "config": config, "ws": ws}


async def _attempts(client: Client, name: str) -> list[Any]:
    calls = [
        {"operation": "write", "filename": name, "content": "pwned"},
        {"operation": "create", "filename": name, "content": "pwned"},
        {"operation": "append", "filename": name, "content": "pwned"},
        {"operation": "read", "filename": name},
        {"operation": "replace", "filename": name, "pattern": "secret", "replacement": "pwned"},
        {"operation": "delete", "filename": name},
        {"operation": "save_as", "filename": "real.md", "new_filename": name, "overwrite": True},
    ]
    return [await client.call_tool("file_operation", args) for args in calls]


@pytest.mark.parametrize("name", HOSTILE, ids=[repr(h)[:40] for h in HOSTILE])
async def test_hostile_path_is_refused_and_nothing_outside_changes(arena: dict[str, Any], name: str) -> None:
    before = _snapshot(arena["parent"], skip=arena["ws"])
    inside_before = sorted(p.name for p in arena["ws"].iterdir())
    async with Client(build_server(arena["config"])) as client:
        results = await _attempts(client, name)
    assert all(r.is_error for r in results), [r.content[0].text for r in results if not r.is_error]
    assert all("Error executing tool file_operation:" in r.content[0].text for r in results)
    assert _snapshot(arena["parent"], skip=arena["ws"]) == before
    assert (arena["parent"] / "secret.md").read_text() == "top secret\n"
    assert sorted(p.name for p in arena["ws"].iterdir() if not p.name.startswith(".")) == [
        n for n in inside_before if not n.startswith(".")
    ]
    assert (arena["ws"] / "real.md").read_text() == "inside\n"


async def test_restore_refuses_a_backup_name_that_walks_out(arena: dict[str, Any]) -> None:
    async with Client(build_server(arena["config"])) as client:
        await client.call_tool("file_operation", {"operation": "backup", "filename": "real.md"})
        result = await client.call_tool(
            "file_operation", {"operation": "restore", "filename": "real.md", "backup_name": "../../secret.md"}
        )
    assert result.is_error and "Available" in result.content[0].text
    assert (arena["ws"] / "real.md").read_text() == "inside\n"


PLAIN = ["new.md", "real.md", "notes/deep/plan.md", "café menu.txt", "a" * 150 + ".markdown", "sub/a..b.md"]
"""Names next to the hostile ones that are fine: the refusals above must not come from refusing everything."""


@pytest.mark.parametrize("name", PLAIN, ids=[repr(p)[:40] for p in PLAIN])
async def test_a_plain_name_beside_the_hostile_ones_works_in_the_same_arena(arena: dict[str, Any], name: str) -> None:
    before = _snapshot(arena["parent"], skip=arena["ws"])
    async with Client(build_server(arena["config"])) as client:
        written = await client.call_tool("file_operation", {"operation": "write", "filename": name, "content": "ok"})
        read = await client.call_tool("file_operation", {"operation": "read", "filename": name})
    assert not written.is_error and not read.is_error, (written.content[0].text, read.content[0].text)
    assert read.structured_content["content"] == "ok" and (arena["ws"] / name).read_text() == "ok"
    assert _snapshot(arena["parent"], skip=arena["ws"]) == before
