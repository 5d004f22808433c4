"""A dropped Realtime socket and a restarted MCP server: the session recovers, no call runs twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from mcp_server.config import Config as ServerConfig
from tests.realtime_peer import (
    RealtimePeer,
    Step,
    function_call,
    response_created,
    response_done,
    session_created,
    session_updated,
    text_message,
    text_reply,
)
from tests.servers import running_mcp_server
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.tools import McpTools
from voice_client.turns import run_text_turn


def _item(kind: str, **fields: Any) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["item"]["type"] == kind and all(e["item"].get(k) == v for k, v in fields.items())


async def test_dropped_socket_reconnects_restores_config_and_never_repeats_a_call(
    client_config: Callable[..., Config], config: ServerConfig, mcp_url: str
) -> None:
    append = json.dumps({"operation": "append", "filename": "log.md", "content": "line one"})
    first = [
        Step(None, send=[session_created("sess_1")]),
        Step("session.update", reply=session_updated),
        Step("conversation.item.create", where=_item("message", role="user")),
        Step(
            "response.create",
            send=[response_created("resp_1"), *function_call("resp_1", "call_1", "file_operation", append)],
            close="drop",
        ),
    ]
    second = [
        Step(None, send=[session_created("sess_2")]),
        Step(
            "session.update",
            where=lambda e: "file_operation" in {t["name"] for t in e["session"]["tools"]},
            reply=session_updated,
        ),
        Step("conversation.item.create", where=lambda e: e["item"]["content"][0]["text"] == "Log line one"),
        Step("conversation.item.create", where=_item("function_call", call_id="call_1", arguments=append)),
        Step("conversation.item.create", where=_item("function_call_output", call_id="call_1")),
        # The server repeats the call id: the client must not run it again.
        Step(
            "response.create",
            send=[
                response_created("resp_2"),
                *function_call("resp_2", "call_1", "file_operation", append),
                *text_message("resp_2", "msg_2", "Logged."),
                response_done("resp_2"),
            ],
        ),
    ]
    async with RealtimePeer(first, second) as peer:
        cfg = client_config(peer.url, mcp_url)
        async with McpTools(cfg) as tools, RealtimeSession(cfg, tools=tools) as session:
            replies = await run_text_turn(session, "Log line one")
        await peer.finished()
    assert replies == ["Logged."]
    assert (config.workspace_dir / "log.md").read_text().count("line one") == 1
    updates = peer.of_type("session.update")
    assert len(updates) == 2 and updates[0] == updates[1]
    outputs = [e for e in peer.of_type("conversation.item.create") if e["item"]["type"] == "function_call_output"]
    assert len(outputs) == 1 and json.loads(outputs[0]["item"]["output"])["success"] is True
    assert len(peer.of_type("response.create")) == 2


def _call_turn(user: str, rid: str, call_id: str, args: str, closing_rid: str) -> list[Step]:
    return [
        Step("conversation.item.create", where=lambda e: e["item"]["content"][0]["text"] == user),
        Step(
            "response.create",
            send=[response_created(rid), *function_call(rid, call_id, "file_operation", args), response_done(rid)],
        ),
        Step("conversation.item.create", where=_item("function_call_output", call_id=call_id)),
        Step(
            "response.create",
            send=text_reply(closing_rid, f"msg_{closing_rid}", "Done."),
        ),
    ]


async def test_mcp_server_restart_mid_session_reconnects_the_tools(
    client_config: Callable[..., Config], config: ServerConfig
) -> None:
    write_a = json.dumps({"operation": "write", "filename": "before.md", "content": "before restart"})
    write_b = json.dumps({"operation": "write", "filename": "after.md", "content": "after restart"})
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        *_call_turn("first", "resp_1", "call_a", write_a, "resp_2"),
        *_call_turn("second", "resp_3", "call_b", write_b, "resp_4"),
    ]
    server = running_mcp_server(config)
    base = server.__enter__()
    try:
        async with RealtimePeer(script) as peer:
            cfg = client_config(peer.url, base + "/mcp")
            async with McpTools(cfg) as tools, RealtimeSession(cfg, tools=tools) as session:
                await run_text_turn(session, "first")
                # Stop and start off the event loop so the client keeps running while uvicorn shuts down.
                await asyncio.to_thread(server.__exit__, None, None, None)
                server = running_mcp_server(config, port=int(base.rsplit(":", 1)[1]))
                assert await asyncio.to_thread(server.__enter__) == base
                await run_text_turn(session, "second")
            await peer.finished()
    finally:
        server.__exit__(None, None, None)
    outputs = {
        e["item"]["call_id"]: json.loads(e["item"]["output"])
        for e in peer.of_type("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    }
    assert outputs["call_a"]["success"] is True
    assert outputs["call_b"]["success"] is True, outputs["call_b"]
    assert (config.workspace_dir / "after.md").read_text().strip() == "after restart"


async def test_a_dead_mcp_server_is_answered_to_the_model(
    client_config: Callable[..., Config], config: ServerConfig
) -> None:
    server = running_mcp_server(config)
    base = server.__enter__()
    try:
        tools_config = client_config("ws://127.0.0.1:9/v1/realtime", base + "/mcp", TOOL_TIMEOUT_S="1")
        async with McpTools(tools_config) as tools:
            assert not (await tools.call("list_scripts", "{}")).is_error
            await asyncio.to_thread(server.__exit__, None, None, None)
            outcome = await tools.call("list_scripts", "{}")
    finally:
        server.__exit__(None, None, None)
    assert outcome.is_error
    assert "unreachable" in json.loads(outcome.output)["error"]
