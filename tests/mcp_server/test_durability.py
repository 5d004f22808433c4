"""Concurrent writers over HTTP lose nothing; a writer killed mid-write leaves old or new, never half."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

from mcp import Client

from mcp_server.config import Config
from tests.servers import running_mcp_server

CLIENTS, LINES = 20, 50

WRITER = """
import sys
from pathlib import Path
from mcp_server.workspace import Workspace
ws = Workspace(Path(sys.argv[1]), max_write_bytes=64_000_000)
for i in range(1000):
    payload = ("B" if i % 2 else "C") * 16_000_000
    print("writing", flush=True)
    ws.write("big.md", payload)
"""


async def test_twenty_clients_appending_fifty_lines_each_end_with_exactly_a_thousand(config: Config) -> None:
    async def client_appends(url: str, who: int) -> None:
        async with Client(url) as client:
            for line in range(LINES):
                result = await client.call_tool(
                    "file_operation", {"operation": "append", "filename": "shared.md", "content": f"c{who}-l{line}"}
                )
                assert not result.is_error

    with running_mcp_server(config) as base:
        await asyncio.gather(*(client_appends(base + "/mcp", who) for who in range(CLIENTS)))
    lines = (config.workspace_dir / "shared.md").read_text().splitlines()
    assert len(lines) == CLIENTS * LINES
    assert set(lines) == {f"c{w}-l{n}" for w in range(CLIENTS) for n in range(LINES)}


def test_a_writer_killed_mid_write_leaves_the_old_or_the_new_content(tmp_path: Path) -> None:
    target = tmp_path / "big.md"
    old = "A" * 16_000_000
    target.write_text(old)
    valid = {old, "B" * 16_000_000, "C" * 16_000_000}
    repo = Path(__file__).resolve().parents[2]
    for round_ in range(5):
        child = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=repo,
            env={**os.environ, "PYTHONPATH": str(repo)},
        )
        assert child.stdout is not None
        for _ in range(round_ + 1):  # let a few writes complete, then strike during the next one
            assert child.stdout.readline() == "writing\n"
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        assert child.returncode == -signal.SIGKILL
        content = target.read_text()
        assert content in valid, f"round {round_}: torn file of {len(content)} chars"
