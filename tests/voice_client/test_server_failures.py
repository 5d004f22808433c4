"""One server's failure is not the session's: a dead, missing or slow server is reported once, its tools leave
the session and come back with it, and the other servers' calls go on."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp.server import MCPServer
from mcp.types import ToolAnnotations

from tests.realtime_peer import RealtimePeer, Step, session_created, session_updated
from tests.servers import NODE_BIN, serve_in_thread
from tests.voice_client.test_toolbox import client_for, three_servers, tool_names
from voice_client.session import RealtimeSession
from voice_client.toolbox import McpTools

pytestmark = pytest.mark.skipif(not (NODE_BIN / "mcp-server-filesystem").exists(), reason="run `make inspector`")

RESTARTABLE = 'test -e "$DOWN" && exit 1; echo $$ > "$PIDFILE"; exec "$SERVER" "$ROOT"'
"""The filesystem server behind a shell that records its pid and refuses to start while `$DOWN` exists."""


def _files_tools(event: dict[str, Any]) -> set[str]:
    return {name for name in tool_names(event) if name.startswith("files__")}


def _noting(flag: asyncio.Event) -> Callable[[dict[str, Any]], list[dict[str, Any]]]:
    def reply(event: dict[str, Any]) -> list[dict[str, Any]]:
        flag.set()
        return session_updated(event)

    return reply


async def test_a_killed_server_leaves_the_session_and_comes_back_when_it_restarts(tmp_path: Path, mcp_url: str) -> None:
    servers = three_servers(tmp_path, mcp_url)
    down, pidfile = tmp_path / "down", tmp_path / "files.pid"
    files_env = {"DOWN": str(down), "PIDFILE": str(pidfile), "ROOT": str(tmp_path / "files")}
    files_env["SERVER"] = str(NODE_BIN / "mcp-server-filesystem")
    servers["files"] = {"command": "sh", "args": ["-c", RESTARTABLE], "env": files_env}
    gone, back = asyncio.Event(), asyncio.Event()
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", where=lambda e: bool(_files_tools(e)), reply=session_updated),
        Step(
            "session.update",
            where=lambda e: not _files_tools(e) and "list_scripts" in tool_names(e),
            reply=_noting(gone),
        ),
        Step("session.update", where=lambda e: "files__read_text_file" in _files_tools(e), reply=_noting(back)),
    ]
    hello = json.dumps({"path": str(tmp_path / "files" / "hello.md")})
    async with RealtimePeer(script) as peer:
        config = client_for(peer.url, tmp_path, servers)
        async with McpTools(config, poll_interval_s=0.2) as tools, RealtimeSession(config, tools=tools):
            first_pid = int(pidfile.read_text())
            down.touch()
            os.kill(first_pid, signal.SIGKILL)  # the child our client spawned, found by the pid it wrote
            async with asyncio.timeout(10):
                await gone.wait()
            while_down = await tools.call("files__read_text_file", hello)
            ours = await tools.call("list_scripts", "{}")
            down.unlink()
            async with asyncio.timeout(15):
                await back.wait()
            after = await tools.call("files__read_text_file", hello)
        await peer.finished()
    assert while_down.is_error and "the files tools are unavailable right now" in json.loads(while_down.output)["error"]
    assert not ours.is_error and "blog_writer" in ours.output
    assert not after.is_error and "hello from the filesystem server" in after.output
    assert int(pidfile.read_text()) != first_pid


async def test_a_server_that_cannot_start_is_reported_once_and_the_others_go_on(
    tmp_path: Path, mcp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    servers = three_servers(tmp_path, mcp_url)
    servers["broken"] = {"command": str(tmp_path / "no-such-server")}
    config = client_for("ws://127.0.0.1:9/v1/realtime", tmp_path, servers, MCP_CONNECT_TIMEOUT_S="2")
    with caplog.at_level(logging.DEBUG, logger="voice_client.toolbox"):
        async with McpTools(config, poll_interval_s=0.2) as tools:
            names = {d["name"] for d in tools.definitions}
            outcome = await tools.call("memory__read_graph", "{}")
            await asyncio.sleep(0.5)  # let the background retries run: they must stay quiet
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "broken" in warnings[0] and "FileNotFoundError" in warnings[0], warnings
    assert sum("broken" in r.getMessage() and "retrying" in r.getMessage() for r in caplog.records) >= 2
    assert not any(n.startswith("broken__") for n in names) and "files__read_text_file" in names
    assert "likes tea" in outcome.output


@pytest.fixture
def slow_url() -> Iterator[str]:
    mcp = MCPServer("slow")

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def ponder() -> str:
        """Take a long time."""
        await asyncio.sleep(10)
        return "done"

    with serve_in_thread(mcp.streamable_http_app()) as base:
        yield base + "/mcp"


async def test_a_call_past_its_servers_timeout_is_answered_with_an_error(
    tmp_path: Path, mcp_url: str, slow_url: str
) -> None:
    servers = {"assistant": {"url": mcp_url}, "slow": {"url": slow_url, "timeout": 300}}
    config = client_for("ws://127.0.0.1:9/v1/realtime", tmp_path, servers)
    async with McpTools(config) as tools:
        async with asyncio.timeout(5):
            outcome = await tools.call("slow__ponder", "{}")
        assert not (await tools.call("list_scripts", "{}")).is_error
    assert outcome.is_error and json.loads(outcome.output)["error"] == "ponder timed out after 0.3 s"


async def test_a_server_that_never_answers_times_out_and_is_retried(
    tmp_path: Path, mcp_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts the connection, answers nothing

    silent = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    servers = {"assistant": {"url": mcp_url}, "silent": {"url": f"http://127.0.0.1:{port}/mcp", "connectTimeout": 300}}
    try:
        with caplog.at_level(logging.DEBUG, logger="voice_client.toolbox"):
            async with McpTools(client_for("ws://127.0.0.1:9/v1/realtime", tmp_path, servers)) as tools:
                assert not (await tools.call("list_scripts", "{}")).is_error
                async with asyncio.timeout(10):
                    while sum("silent is unavailable" in r.getMessage() for r in caplog.records) < 2:
                        await asyncio.sleep(0.05)  # the background retries, each cut off after 300 ms
    finally:
        silent.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "silent" in warnings[0] and "timeout" in warnings[0].lower(), warnings
