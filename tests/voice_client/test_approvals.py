"""A spoken (or typed) yes before a call that loses text: held, asked, and run only after a yes."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from mcp.server import MCPServer
from mcp.server.mcpserver.resolve import Elicit, Resolve
from pydantic import BaseModel, Field

from mcp_server.config import Config as ServerConfig
from tests.realtime_peer import (
    RealtimePeer,
    Step,
    function_call,
    response_created,
    response_done,
    session_created,
    session_updated,
    speech_started,
    text_reply,
)
from tests.servers import NODE_BIN, serve_in_thread
from tests.voice_client.test_toolbox import client_for, three_servers
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.toolbox import McpTools, classify
from voice_client.turns import run_text_turn

NOTES = "# Notes\n\nbuy milk\ncall Ada\n"
OVERWRITE = json.dumps({"operation": "write", "filename": "notes.md", "content": "gone"})


def _item(kind: str, call_id: str | None = None) -> Callable[[dict[str, Any]], bool]:
    return lambda e: e["item"]["type"] == kind and (call_id is None or e["item"].get("call_id") == call_id)


def _user_says(text: str) -> Step:
    return Step("conversation.item.create", where=lambda e: e["item"].get("content", [{}])[0].get("text") == text)


def _asked(question: str) -> Callable[[dict[str, Any]], bool]:
    return lambda e: question in json.loads(e["item"]["output"]).get("pending_approval", "")


def _held_call(request: str, name: str, arguments: str, question: str) -> list[Step]:
    """The model calls `name`; the client holds it and its output asks `question`; the model asks it."""
    return [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        _user_says(request),
        Step(
            "response.create",
            send=[
                response_created("resp_1"),
                *function_call("resp_1", "call_1", name, arguments),
                response_done("resp_1"),
            ],
        ),
        Step(
            "conversation.item.create",
            where=lambda e: _item("function_call_output", "call_1")(e) and _asked(question)(e),
        ),
        Step("response.create", send=text_reply("resp_2", "msg_2", question)),
    ]


def _outcome(response_id: str) -> list[Step]:
    """The held call's outcome as a call of its own, then the model's answer to it."""
    return [
        Step("conversation.item.create", where=_item("function_call")),
        Step("conversation.item.create", where=_item("function_call_output")),
        Step("response.create", send=text_reply(response_id, f"msg_{response_id}", "All right.")),
    ]


def _last_output(peer: RealtimePeer) -> dict[str, Any]:
    outputs = [
        e["item"]["output"] for e in peer.of_type("conversation.item.create") if _item("function_call_output")(e)
    ]
    return json.loads(outputs[-1])


@pytest.mark.parametrize(
    ("answer", "verdict"),
    [
        ("Yes.", "yes"),
        ("yeah, go ahead", "yes"),
        ("Um, okay", "yes"),
        ("No, keep it", "no"),
        ("nope", "no"),
        ("don't", "no"),
        ("maybe", "unclear"),
        ("I'm not sure", "unclear"),
        ("cancel the meeting", "unclear"),
        ("yes no", "unclear"),
        ("yes, no wait", "unclear"),
        ("", "unclear"),
    ],
)
def test_answers_are_read_as_yes_no_or_unclear(answer: str, verdict: str) -> None:
    assert classify(answer) == verdict


@pytest.mark.parametrize(
    "arguments",
    [OVERWRITE, json.dumps({"operation": "save_as", "filename": "notes.md", "content": "# Other"})],  # a write too
    ids=["write", "save_as"],
)
async def test_no_leaves_the_file_byte_identical_and_the_output_says_declined(
    client_config: Callable[..., Config], config: ServerConfig, mcp_url: str, arguments: str
) -> None:
    notes = config.workspace_dir / "notes.md"
    notes.write_text(NOTES, encoding="utf-8")
    question = "Overwrite notes.md? Its 4 lines would be replaced. Say yes or no."
    script = [*_held_call("Replace my notes", "file_operation", arguments, question), _user_says("No"), *_outcome("r3")]
    async with RealtimePeer(script) as peer:
        cfg = client_config(peer.url, mcp_url)
        async with McpTools(cfg) as tools, RealtimeSession(cfg, tools=tools) as session:
            assert await run_text_turn(session, "Replace my notes") == [question]
            assert await run_text_turn(session, "No") == ["All right."]
        await peer.finished()
    assert notes.read_bytes() == NOTES.encode()
    assert "declined" in _last_output(peer)["declined"]


async def test_yes_runs_the_call(client_config: Callable[..., Config], config: ServerConfig, mcp_url: str) -> None:
    notes = config.workspace_dir / "notes.md"
    notes.write_text(NOTES, encoding="utf-8")
    question = "Overwrite notes.md? Its 4 lines would be replaced."
    script = [*_held_call("Replace my notes", "file_operation", OVERWRITE, question), _user_says("yes please")]
    async with RealtimePeer([*script, *_outcome("r3")]) as peer:
        cfg = client_config(peer.url, mcp_url)
        async with McpTools(cfg) as tools, RealtimeSession(cfg, tools=tools) as session:
            await run_text_turn(session, "Replace my notes")
            await run_text_turn(session, "yes please")
        await peer.finished()
    assert notes.read_text().strip() == "gone"
    assert _last_output(peer)["success"] is True


async def test_an_unclear_answer_is_asked_once_more(
    client_config: Callable[..., Config], config: ServerConfig, mcp_url: str
) -> None:
    notes = config.workspace_dir / "notes.md"
    notes.write_text(NOTES, encoding="utf-8")
    arguments = json.dumps({"operation": "delete", "filename": "notes.md"})
    question = "Delete notes.md? Its 4 lines would be lost."
    again = [
        _user_says("hmm, what?"),
        Step("conversation.item.create", where=_item("function_call")),
        Step("conversation.item.create", where=lambda e: _asked(f"Sorry, I need a yes or a no. {question}")(e)),
        Step("response.create", send=text_reply("r3", "msg_3", "Yes or no?")),
        _user_says("no"),
    ]
    async with RealtimePeer(
        [*_held_call("Delete my notes", "file_operation", arguments, question), *again, *_outcome("r4")]
    ) as peer:
        cfg = client_config(peer.url, mcp_url)
        async with McpTools(cfg) as tools, RealtimeSession(cfg, tools=tools) as session:
            await run_text_turn(session, "Delete my notes")
            assert await run_text_turn(session, "hmm, what?") == ["Yes or no?"]
            await run_text_turn(session, "no")
        await peer.finished()
    assert notes.read_bytes() == NOTES.encode()


async def test_silence_is_a_no_after_the_timeout(
    client_config: Callable[..., Config], config: ServerConfig, mcp_url: str
) -> None:
    notes = config.workspace_dir / "notes.md"
    notes.write_text(NOTES, encoding="utf-8")
    question = "Overwrite notes.md?"
    script = [*_held_call("Replace my notes", "file_operation", OVERWRITE, question), *_outcome("r3")]
    async with RealtimePeer(script) as peer:
        cfg = client_config(peer.url, mcp_url, APPROVAL_TIMEOUT_S="0.5")
        async with McpTools(cfg) as tools, RealtimeSession(cfg, tools=tools) as session:
            await run_text_turn(session, "Replace my notes")
            await peer.finished()
    assert notes.read_bytes() == NOTES.encode()
    assert "declined" in _last_output(peer)


async def test_creating_appending_reading_and_script_steps_never_ask(
    client_config: Callable[..., Config], config: ServerConfig, mcp_url: str
) -> None:
    cfg = client_config("ws://127.0.0.1:9/v1/realtime", mcp_url)
    asked: list[str] = []

    async def ask(question: str) -> bool:
        asked.append(question)
        return False

    async with McpTools(cfg) as tools:
        for arguments in (
            {"operation": "create", "filename": "a.md", "content": "one"},
            {"operation": "append", "filename": "a.md", "content": "two"},
            {"operation": "read", "filename": "a.md"},
            {"operation": "write", "filename": "new.md", "content": "a new file loses nothing"},
            {"operation": "replace", "filename": "a.md", "pattern": "one", "replacement": "1", "dry_run": True},
        ):
            outcome = await tools.call("file_operation", json.dumps(arguments), ask)
            assert not outcome.is_error, outcome.output
        for name, arguments in (("load_script", {"script_name": "blog_writer"}), ("next_stage", {})):
            outcome = await tools.call(name, json.dumps(arguments), ask)  # not destructive: its own hints say so
            assert not outcome.is_error, outcome.output
        no_pattern = {"operation": "replace", "filename": "a.md", "replacement": "1"}  # nothing to ask about
        outcome = await tools.call("file_operation", json.dumps(no_pattern), ask)
        assert outcome.is_error and "pattern" in outcome.output, outcome.output
    assert asked == []


@pytest.mark.skipif(not (NODE_BIN / "mcp-server-filesystem").exists(), reason="run `make inspector` first")
async def test_another_servers_write_asks_unless_its_tool_is_read_only(tmp_path: Path, mcp_url: str) -> None:
    servers = three_servers(tmp_path, mcp_url)
    servers["memory"]["requireApproval"] = "never"
    hello = tmp_path / "files" / "hello.md"
    before = hello.read_bytes()
    asked: list[str] = []

    async def ask(question: str) -> bool:
        asked.append(question)
        return False

    async with McpTools(client_for("ws://127.0.0.1:9/v1/realtime", tmp_path, servers)) as tools:
        write = json.dumps({"path": str(hello), "content": "overwritten"})
        declined = await tools.call("files__write_file", write, ask)
        read = await tools.call("files__read_text_file", json.dumps({"path": str(hello)}), ask)
        entity = {"entities": [{"name": "Bo", "entityType": "person", "observations": ["new"]}]}
        created = await tools.call("memory__create_entities", json.dumps(entity), ask)
    assert asked == [f"Run Write File on files with path {str(hello)[:37]}..., content overwritten?"]
    assert "declined" in json.loads(declined.output) and hello.read_bytes() == before
    assert not read.is_error and not created.is_error


class Confirm(BaseModel):
    confirm: bool = Field(description="Empty it?")


async def confirm_empty() -> Elicit[Confirm]:
    """The server's own question (module level: the tool's string annotations are resolved here)."""
    return Elicit("Empty the bin? Its 1 file would be gone.", Confirm)


@pytest.fixture
def eliciting_url(tmp_path: Path) -> Iterator[str]:
    """A server whose `empty_bin` asks the user itself (MCP elicitation) before it deletes `bin/`."""
    mcp = MCPServer("bin")
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "old.txt").write_text("old", encoding="utf-8")

    @mcp.tool()
    async def empty_bin(confirm: Annotated[Confirm, Resolve(confirm_empty)]) -> str:
        """Delete everything in the bin."""
        if confirm.confirm:
            (tmp_path / "bin" / "old.txt").unlink()
        return "emptied" if confirm.confirm else "kept"

    with serve_in_thread(mcp.streamable_http_app()) as base:
        yield base + "/mcp"


@pytest.mark.parametrize(("answer", "emptied"), [("yes", True), ("no", False)])
async def test_a_servers_own_question_is_asked_the_same_spoken_way(
    tmp_path: Path, mcp_url: str, eliciting_url: str, answer: str, emptied: bool
) -> None:
    servers = {"assistant": {"url": mcp_url}, "bin": {"url": eliciting_url, "requireApproval": "never"}}
    question = "Empty the bin? Its 1 file would be gone."
    script = [*_held_call("Empty the bin", "bin__empty_bin", "{}", question), _user_says(answer), *_outcome("r3")]
    async with RealtimePeer(script) as peer:
        cfg = client_for(peer.url, tmp_path, servers, TOOL_TIMEOUT_S="2", APPROVAL_TIMEOUT_S="5")
        async with McpTools(cfg) as tools, RealtimeSession(cfg, tools=tools) as session:
            await run_text_turn(session, "Empty the bin")
            await run_text_turn(session, answer)
        await peer.finished()
    assert (tmp_path / "bin" / "old.txt").exists() is not emptied
    outputs = [
        e["item"]["output"] for e in peer.of_type("conversation.item.create") if _item("function_call_output")(e)
    ]
    assert (outputs[-1] == "emptied") is emptied, outputs[-1]


def _auto_response(on: bool) -> Callable[[dict[str, Any]], bool]:
    def matches(event: dict[str, Any]) -> bool:
        turn = event["session"].get("audio", {}).get("input", {}).get("turn_detection") or {}
        return set(event["session"]) == {"type", "audio"} and turn.get("create_response") is on

    return matches


async def test_a_spoken_yes_from_the_transcript_runs_the_call_while_vad_waits(
    client_config: Callable[..., Config], config: ServerConfig, mcp_url: str
) -> None:
    notes = config.workspace_dir / "notes.md"
    notes.write_text(NOTES, encoding="utf-8")
    question = "Overwrite notes.md? Its 4 lines would be replaced. Say yes or no."
    heard = {
        "type": "conversation.item.input_audio_transcription.completed",
        "item_id": "item_u2",
        "transcript": "Yes.",
    }
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        _user_says("Replace my notes"),
        Step(
            "response.create",
            send=[
                response_created("r1"),
                *function_call("r1", "call_1", "file_operation", OVERWRITE),
                response_done("r1"),
            ],
        ),
        Step("session.update", where=_auto_response(False)),  # the user's answer must not start a reply by itself
        Step("conversation.item.create", where=_asked(question)),
        Step("response.create", send=text_reply("r2", "msg_2", question)),
        Step(None, send=[speech_started("item_u2"), heard]),
        Step("session.update", where=_auto_response(True)),
        *_outcome("r3"),
    ]
    async with RealtimePeer(script, ignore=["input_audio_buffer.append"]) as peer:
        cfg = client_config(peer.url, mcp_url, TRANSCRIPTION_MODEL="gpt-4o-mini-transcribe").with_overrides(
            text_only=False
        )
        async with McpTools(cfg) as tools, RealtimeSession(cfg, tools=tools) as session:
            await session.send_text("Replace my notes")
            await peer.finished(timeout_s=10)
    assert notes.read_text().strip() == "gone"
    assert _last_output(peer)["success"] is True


async def test_two_destructive_calls_at_once_ask_one_question_at_a_time(
    client_config: Callable[..., Config], config: ServerConfig, mcp_url: str
) -> None:
    for name in ("a.md", "b.md"):
        (config.workspace_dir / name).write_text(NOTES, encoding="utf-8")
    delete_a, delete_b = (json.dumps({"operation": "delete", "filename": n}) for n in ("a.md", "b.md"))
    question = "Delete a.md? Its 4 lines would be lost."  # what the model says (the peer's script)
    script = [
        Step(None, send=[session_created()]),
        Step("session.update", reply=session_updated),
        _user_says("Delete both"),
        Step(
            "response.create",
            send=[
                response_created("r1"),
                *function_call("r1", "call_a", "file_operation", delete_a, 0),
                *function_call("r1", "call_b", "file_operation", delete_b, 1),
                response_done("r1"),
            ],
        ),
        Step("conversation.item.create", where=_item("function_call_output")),
        Step("conversation.item.create", where=_item("function_call_output")),
        Step("response.create", send=text_reply("r2", "msg_2", question)),
        _user_says("no"),
        *_outcome("r3"),
    ]
    async with RealtimePeer(script) as peer:
        cfg = client_config(peer.url, mcp_url)
        async with McpTools(cfg) as tools, RealtimeSession(cfg, tools=tools) as session:
            await run_text_turn(session, "Delete both")
            await run_text_turn(session, "no")
        await peer.finished()
    outputs = {
        e["item"]["call_id"]: e["item"]["output"]
        for e in peer.of_type("conversation.item.create")
        if _item("function_call_output")(e)
    }
    first, second = sorted((json.loads(outputs[c]) for c in ("call_a", "call_b")), key=lambda o: "error" in o)
    assert first["pending_approval"].startswith(("Delete a.md?", "Delete b.md?"))  # whichever asked first
    assert "another question waits for the user" in second["error"]
    assert all((config.workspace_dir / n).read_bytes() == NOTES.encode() for n in ("a.md", "b.md"))
