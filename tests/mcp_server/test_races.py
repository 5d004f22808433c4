"""A local process racing the server, and the server's own hidden paths planted as links (real files).

The swap race: another process exchanges a workspace folder and a symlink to a folder outside
(`renameat2(RENAME_EXCHANGE)`, atomically, as fast as it can) while a client reads, writes and deletes
inside that folder. A server that checks a path and then uses it by name acts outside some of the time;
one that acts through descriptors opened without following links never does.
"""

from __future__ import annotations

import ctypes
import hashlib
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from mcp_server.server import build_server
from tests.servers import make_config

SWAPPER = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = (os.fsencode(p) for p in sys.argv[1:3])
print("ready", flush=True)
while True:
    libc.renameat2(-100, a, -100, b, 2)  # AT_FDCWD, RENAME_EXCHANGE
"""


def _state(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _renameat2_works(tmp_path: Path) -> bool:
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    libc = ctypes.CDLL(None, use_errno=True)
    return (
        hasattr(libc, "renameat2")
        and libc.renameat2(-100, b"%s/x" % bytes(tmp_path), -100, b"%s/y" % bytes(tmp_path), 2) == 0
    )


async def test_a_folder_swapped_for_a_link_mid_call_never_lets_the_server_act_outside(tmp_path: Path) -> None:
    if not _renameat2_works(tmp_path):
        pytest.fail("renameat2(RENAME_EXCHANGE) is not available on this kernel/libc")
    config = make_config(tmp_path / "parent")
    workspace, outside = config.workspace_dir, tmp_path / "parent" / "outside"
    (workspace / "sub").mkdir(parents=True)
    outside.mkdir()
    for number in range(200):
        (workspace / "sub" / f"v{number}.md").write_text("inside\n")
        (outside / f"v{number}.md").write_text("outside, must survive\n")
    (workspace / "sub" / "a.md").write_text("inside\n")
    (outside / "a.md").write_text("OUTSIDE SECRET\n")
    (workspace / "swap").symlink_to(outside, target_is_directory=True)
    before = _state(outside)
    swapper = subprocess.Popen(
        [sys.executable, "-c", SWAPPER, str(workspace / "sub"), str(workspace / "swap")],
        stdout=subprocess.PIPE,
        text=True,
    )
    results: list[Any] = []
    try:
        assert swapper.stdout is not None and swapper.stdout.readline().startswith("ready")
        async with Client(build_server(config)) as client:
            for number in range(200):
                for args in (
                    {"operation": "read", "filename": "sub/a.md"},
                    {"operation": "write", "filename": f"sub/w{number}.md", "content": "written"},
                    {"operation": "delete", "filename": f"sub/v{number}.md"},
                ):
                    results.append(await client.call_tool("file_operation", args))
    finally:
        swapper.kill()
        swapper.wait()
    leaked = [r for r in results if not r.is_error and "OUTSIDE SECRET" in str(r.structured_content)]
    assert not leaked, f"{len(leaked)} reads returned the outside file"
    assert _state(outside) == before  # nothing written, replaced or deleted outside, no temp files left there
    assert any(not r.is_error for r in results)  # the race did not simply refuse everything


@pytest.mark.parametrize("hidden", [".backups", ".sessions", ".locks", ".audit.log"])
async def test_the_servers_own_hidden_paths_planted_as_links_are_never_written_through(
    tmp_path: Path, hidden: str
) -> None:
    config = make_config(tmp_path / "parent")
    workspace, outside = config.workspace_dir, tmp_path / "parent" / "outside"
    workspace.mkdir(parents=True)
    outside.mkdir()
    (outside / "victim.log").write_text("untouched\n")
    (workspace / "notes.md").write_text("first\n")
    target = outside / "victim.log" if hidden == ".audit.log" else outside
    (workspace / hidden).symlink_to(target, target_is_directory=target.is_dir())
    before = _state(outside)
    async with Client(build_server(config)) as client:
        await client.call_tool("file_operation", {"operation": "write", "filename": "notes.md", "content": "second"})
        await client.call_tool("load_script", {"script_name": "blog_writer"})
        await client.call_tool("next_stage", {})
    assert _state(outside) == before
    assert (workspace / hidden).is_symlink()  # left as planted, not followed
