"""Approval through the offline engine (its deterministic RuleBrain, the real protocol server): the held call's
question is said as it is, and the user's typed answer decides."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import pytest

from local_realtime.brain import APPROVAL_KEY, Entry, RuleBrain, pending_question
from local_realtime.engine import Engine
from local_realtime.server import serve_engine
from local_realtime.stt import WhisperTranscriber
from local_realtime.tts import EspeakSynthesizer
from local_realtime.vad import VoiceActivityDetector
from mcp_server.config import Config as ServerConfig
from voice_client.config import Config
from voice_client.session import RealtimeSession
from voice_client.toolbox import McpTools, ToolOutcome
from voice_client.turns import run_text_turn

NOTES = "# Notes\n\nbuy milk\n"


@pytest.fixture(scope="module")
async def engine_url() -> AsyncIterator[str]:
    engine = Engine(RuleBrain(), WhisperTranscriber.load(), EspeakSynthesizer(), VoiceActivityDetector)
    async with serve_engine(engine) as base:
        yield base + "/realtime"


@pytest.mark.parametrize(("answer", "kept"), [("no thanks", True), ("yes", False)])
async def test_the_offline_engine_asks_and_the_answer_decides(
    engine_url: str,
    client_config: Callable[..., Config],
    config: ServerConfig,
    mcp_url: str,
    answer: str,
    kept: bool,
) -> None:
    notes = config.workspace_dir / "notes.md"
    notes.write_text(NOTES, encoding="utf-8")
    request = json.dumps({"operation": "write", "filename": "notes.md", "content": "replaced"})
    results: list[ToolOutcome] = []
    cfg = client_config(engine_url, mcp_url)
    async with (
        McpTools(cfg) as tools,
        RealtimeSession(cfg, tools=tools, on_tool_result=lambda _n, o: results.append(o)) as session,
    ):
        asked = await run_text_turn(session, f"call file_operation with {request}")
        replies = await run_text_turn(session, answer)
    assert asked == ["Overwrite notes.md? Its 3 lines would be replaced. Say yes or no."]
    assert (notes.read_bytes() == NOTES.encode()) is kept
    assert replies and replies[-1].startswith("Done:")
    assert ("declined" in results[-1].output) is kept


def test_only_a_last_result_with_a_question_is_said_as_it_is() -> None:
    asking = Entry("tool_result", json.dumps({APPROVAL_KEY: "Delete a.md?", "note": "wait"}))
    assert pending_question([Entry("user", "delete a.md"), asking]) == "Delete a.md?"
    assert pending_question([asking, Entry("user", "yes")]) is None
    assert pending_question([Entry("tool_result", "plain text")]) is None
    assert pending_question([Entry("tool_result", "[1, 2]")]) is None
    assert pending_question([]) is None
