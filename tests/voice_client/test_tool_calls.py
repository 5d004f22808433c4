"""Function calls against the real MCP server over loopback HTTP, answered to the wire-level peer."""

from __future__ import annotations

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
    text_reply,
)
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.tools import McpTools, ToolOutcome
from voice_client.turns import run_text_turn


def _output_for(call_id: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["item"]["type"] == "function_call_output" and e["item"]["call_id"] == call_id


def _is_output(event: dict[str, Any]) -> bool:
    return event["item"]["type"] == "function_call_output"


def _opening(user_text: str) -> list[Step]:
    return [
        Step(None, send=[session_created()]),
        Step(
            "session.update",
            where=lambda e: "file_operation" in {t["name"] for t in e["session"]["tools"]},
            reply=session_updated,
        ),
        Step("conversation.item.create", where=lambda e: e["item"]["content"][0]["text"] == user_text),
    ]


def _closing(response_id: str, text: str) -> Step:
    return Step(
        "response.create",
        send=text_reply(response_id, "msg_2", text),
    )


def _outputs(peer: RealtimePeer) -> dict[str, dict[str, Any]]:
    return {
        e["item"]["call_id"]: json.loads(e["item"]["output"])
        for e in peer.of_type("conversation.item.create")
        if e["item"]["type"] == "function_call_output"
    }


async def test_function_call_writes_a_real_workspace_file(
    client_config: Callable[..., Config], config: ServerConfig, mcp_url: str
) -> None:
    args = json.dumps({"operation": "write", "filename": "notes.md", "content": "# Notes\n\nbuy milk\n"})
    script = [
        *_opening("Note that I need milk"),
        Step(
            "response.create",
            send=[
                response_created("resp_1"),
                *function_call("resp_1", "call_1", "file_operation", args),
                response_done("resp_1"),
            ],
        ),
        Step("conversation.item.create", where=_output_for("call_1")),
        _closing("resp_2", "Saved to notes.md."),
    ]
    results: list[tuple[str, ToolOutcome]] = []
    calls: list[tuple[str, str]] = []
    async with RealtimePeer(script) as peer:
        cfg = client_config(peer.url, mcp_url)
        async with (
            McpTools(cfg) as tools,
            RealtimeSession(
                cfg,
                tools=tools,
                on_tool_call=lambda n, a: calls.append((n, a)),
                on_tool_result=lambda n, o: results.append((n, o)),
            ) as session,
        ):
            replies = await run_text_turn(session, "Note that I need milk")
        await peer.finished()
    assert replies == ["Saved to notes.md."]
    assert "buy milk" in (config.workspace_dir / "notes.md").read_text()
    assert _outputs(peer)["call_1"]["success"] is True
    assert calls == [("file_operation", args)]
    name, outcome = results[0]
    assert name == "file_operation" and outcome.structured is not None
    assert outcome.structured["filepath"] == "notes.md"
    assert len(peer.of_type("response.create")) == 2


async def test_two_parallel_calls_get_both_outputs_then_one_response_create(
    client_config: Callable[..., Config], config: ServerConfig, mcp_url: str
) -> None:
    write_a = json.dumps({"operation": "write", "filename": "a.md", "content": "alpha"})
    write_b = json.dumps({"operation": "write", "filename": "b.md", "content": "beta"})
    script = [
        *_opening("Make two files"),
        Step(
            "response.create",
            send=[
                response_created("resp_1"),
                *function_call("resp_1", "call_a", "file_operation", write_a, 0),
                *function_call("resp_1", "call_b", "file_operation", write_b, 1),
                response_done("resp_1"),
            ],
        ),
        Step("conversation.item.create", where=_is_output),
        Step("conversation.item.create", where=_is_output),
        _closing("resp_2", "Both files are ready."),
    ]
    async with RealtimePeer(script) as peer:
        cfg = client_config(peer.url, mcp_url)
        async with McpTools(cfg) as tools, RealtimeSession(cfg, tools=tools) as session:
            await run_text_turn(session, "Make two files")
        await peer.finished()
    outputs = _outputs(peer)
    assert set(outputs) == {"call_a", "call_b"}
    assert all(o["success"] for o in outputs.values())
    assert (config.workspace_dir / "a.md").read_text().strip() == "alpha"
    assert (config.workspace_dir / "b.md").read_text().strip() == "beta"
    assert len(peer.of_type("response.create")) == 2


async def test_tool_errors_bad_json_and_unknown_tools_are_answered_to_the_model(
    client_config: Callable[..., Config], mcp_url: str
) -> None:
    escape = json.dumps({"operation": "read", "filename": "../secret.md"})
    script = [
        *_opening("Read the secret"),
        Step(
            "response.create",
            send=[
                response_created("resp_1"),
                *function_call("resp_1", "call_bad_path", "file_operation", escape, 0),
                *function_call("resp_1", "call_bad_json", "file_operation", "{not json", 1),
                *function_call("resp_1", "call_unknown", "launch_rockets", "{}", 2),
                response_done("resp_1"),
            ],
        ),
        Step("conversation.item.create", where=_is_output),
        Step("conversation.item.create", where=_is_output),
        Step("conversation.item.create", where=_is_output),
        _closing("resp_2", "I can't do that."),
    ]
    async with RealtimePeer(script) as peer:
        cfg = client_config(peer.url, mcp_url)
        async with McpTools(cfg) as tools, RealtimeSession(cfg, tools=tools) as session:
            replies = await run_text_turn(session, "Read the secret")
        await peer.finished()
    assert replies == ["I can't do that."]
    outputs = _outputs(peer)
    assert "'..'" in outputs["call_bad_path"]["error"]
    assert "not valid JSON" in outputs["call_bad_json"]["error"]
    assert "launch_rockets" in outputs["call_unknown"]["error"]
    assert "file_operation" in outputs["call_unknown"]["error"]


async def test_a_tool_timeout_is_answered_to_the_model(client_config: Callable[..., Config], mcp_url: str) -> None:
    listing = json.dumps({"operation": "list"})
    script = [
        *_opening("List my files"),
        Step(
            "response.create",
            send=[
                response_created("resp_1"),
                *function_call("resp_1", "call_1", "file_operation", listing),
                response_done("resp_1"),
            ],
        ),
        Step("conversation.item.create", where=_output_for("call_1")),
        _closing("resp_2", "That took too long."),
    ]
    async with RealtimePeer(script) as peer:
        cfg = client_config(peer.url, mcp_url, TOOL_TIMEOUT_S="0.001")
        async with McpTools(cfg) as tools, RealtimeSession(cfg, tools=tools) as session:
            await run_text_turn(session, "List my files")
        await peer.finished()
    assert "timed out after 0.001 s" in _outputs(peer)["call_1"]["error"]


async def test_a_script_tool_result_updates_the_session_instructions(
    client_config: Callable[..., Config], mcp_url: str
) -> None:
    load = json.dumps({"script_name": "blog_writer"})
    script = [
        *_opening("Help me write a blog post"),
        Step(
            "response.create",
            send=[
                response_created("resp_1"),
                *function_call("resp_1", "call_1", "load_script", load),
                response_done("resp_1"),
            ],
        ),
        Step(
            "session.update",
            where=lambda e: (
                e["session"]["type"] == "realtime"
                and len(e["session"]["instructions"]) > 20
                and "tools" not in e["session"]
            ),
            reply=session_updated,
        ),
        Step("conversation.item.create", where=_output_for("call_1")),
        _closing("resp_2", "Let's write."),
    ]
    results: list[ToolOutcome] = []
    async with RealtimePeer(script) as peer:
        cfg = client_config(peer.url, mcp_url)
        async with (
            McpTools(cfg) as tools,
            RealtimeSession(cfg, tools=tools, on_tool_result=lambda _n, o: results.append(o)) as session,
        ):
            await run_text_turn(session, "Help me write a blog post")
            instructions = session.instructions
        await peer.finished()
    structured = results[0].structured
    assert structured is not None and structured["script_name"] == "blog_writer"
    assert instructions == structured["instructions"]
    assert peer.of_type("session.update")[-1]["session"]["instructions"] == structured["instructions"]
    assert _outputs(peer)["call_1"]["current_stage"] == structured["current_stage"]
