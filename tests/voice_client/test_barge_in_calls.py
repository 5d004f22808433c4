"""Barge-in never loses work: speaking over the assistant stops a read-only call still running (its server is
told), while a call that writes completes and its outcome is in the conversation."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from mcp.server import MCPServer
from mcp.types import ToolAnnotations

from tests.realtime_peer import (
    RealtimePeer,
    Step,
    function_call,
    response_created,
    response_done,
    session_created,
    session_updated,
    speech_started,
)
from tests.servers import serve_in_thread
from tests.voice_client.test_toolbox import client_for
from voice_client.session import RealtimeSession
from voice_client.toolbox import McpTools


@dataclass
class SlowServer:
    """A server with a slow read (`ponder`) and a slow write (`slow_write`), reporting what happened."""

    url: str
    loop: asyncio.AbstractEventLoop
    started: dict[str, asyncio.Event] = field(default_factory=dict)
    cancelled: threading.Event = field(default_factory=threading.Event)


@pytest.fixture
async def slow(tmp_path: Path) -> AsyncIterator[SlowServer]:
    mcp = MCPServer("slow")
    loop = asyncio.get_running_loop()
    started = {"ponder": asyncio.Event(), "slow_write": asyncio.Event()}
    cancelled = threading.Event()

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=True))
    async def ponder() -> str:
        """Think for a long time."""
        loop.call_soon_threadsafe(started["ponder"].set)
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "thought"

    @mcp.tool(annotations=ToolAnnotations(read_only_hint=False, destructive_hint=False))
    async def slow_write(text: str) -> str:
        """Write `text` to result.txt, slowly."""
        loop.call_soon_threadsafe(started["slow_write"].set)
        await asyncio.sleep(1.0)
        (tmp_path / "result.txt").write_text(text, encoding="utf-8")
        return "written"

    with serve_in_thread(mcp.streamable_http_app()) as base:
        yield SlowServer(base + "/mcp", loop, started, cancelled)


def _output(call_id: str, text: str) -> Step:
    def matches(event: dict[str, Any]) -> bool:
        item = event["item"]
        return item["type"] == "function_call_output" and item["call_id"] == call_id and text in item["output"]

    return Step("conversation.item.create", where=matches)


async def test_speaking_stops_a_running_read_but_a_write_completes(
    tmp_path: Path, mcp_url: str, slow: SlowServer
) -> None:
    both_started = asyncio.Event()

    async def watch() -> None:
        await asyncio.gather(*(event.wait() for event in slow.started.values()))
        both_started.set()

    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create"),
        Step(
            "response.create",
            send=[
                response_created("resp_1"),
                *function_call("resp_1", "call_read", "slow__ponder", "{}", 0),
                *function_call("resp_1", "call_write", "slow__slow_write", json.dumps({"text": "kept"}), 1),
                response_done("resp_1"),
            ],
        ),
        Step(None, after=both_started, send=[speech_started("item_user_2")]),
        _output("call_read", "stopped because the user started speaking"),
        _output("call_write", "written"),
    ]
    servers = {"assistant": {"url": mcp_url}, "slow": {"url": slow.url, "requireApproval": "never"}}
    watcher = asyncio.create_task(watch())
    async with RealtimePeer(script) as peer:
        config = client_for(peer.url, tmp_path, servers)
        async with McpTools(config) as tools, RealtimeSession(config, tools=tools) as session:
            await session.send_text("Think it over and write it down")
            await peer.finished(timeout_s=10)
    watcher.cancel()
    assert (tmp_path / "result.txt").read_text() == "kept"
    assert await asyncio.to_thread(slow.cancelled.wait, 5), "the server was never told the read was cancelled"
    assert not peer.of_type("response.create")[1:], "the user spoke: the answer waits for their new turn"
