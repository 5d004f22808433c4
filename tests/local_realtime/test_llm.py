"""The llama.cpp brain with the real model, in a handful of calls (prompt and reply format: test_prompt.py)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from local_realtime.brain import BrainOutput, Entry, FunctionCall, TextDelta, ToolSpec
from local_realtime.few_shot import PACKAGED_FEW_SHOT, load_few_shot
from local_realtime.llm import FALLBACK_REPLY, LlamaBrain
from local_realtime.model import locate_model
from local_realtime.stage import StageCard
from mcp_server.server import build_server
from tests.local_realtime.test_coaching import _card_json
from tests.local_realtime.test_grammar import REMINDER
from tests.servers import make_config

# --- with the real model ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def real_tools(tmp_path_factory: pytest.TempPathFactory) -> list[ToolSpec]:
    """The real MCP server's tools as the voice client would declare them."""
    server = build_server(make_config(tmp_path_factory.mktemp("llm-tools")))
    return [ToolSpec(t.name, t.description or "", t.input_schema) for t in await server.list_tools()]


@pytest.fixture(scope="session")
def brain(real_tools: list[ToolSpec]) -> LlamaBrain:
    """The packaged Qwen2.5-Coder-1.5B, loaded once and warmed with the real tools."""
    model = LlamaBrain(
        locate_model(Path.home() / ".cache" / "realtime-mcp-assistant" / "models"), load_few_shot(PACKAGED_FEW_SHOT)
    )
    model.warm([*real_tools, REMINDER], INSTRUCTIONS)
    return model


INSTRUCTIONS = "You are a friendly voice assistant. Keep answers short."


def _reply(brain: LlamaBrain, tools: list[ToolSpec], history: list[Entry], choice: Any = "auto") -> list[BrainOutput]:
    return list(brain.reply(INSTRUCTIONS, history, tools, choice, threading.Event()))


def _call(outputs: list[BrainOutput], tools: list[ToolSpec]) -> tuple[str, dict[str, Any]]:
    """The one call at the end of `outputs`, checked against its tool's schema; what came before is its spoken
    preamble."""
    *preamble, call = outputs
    assert isinstance(call, FunctionCall), outputs
    assert all(isinstance(o, TextDelta) for o in preamble), outputs
    assert 0 < len("".join(o.text for o in preamble if isinstance(o, TextDelta))) <= 80, outputs
    args = json.loads(call.arguments)
    schema = next(t.parameters for t in tools if t.name == call.name)
    jsonschema.validate(args, schema)
    return call.name, args


def _text(outputs: list[BrainOutput]) -> str:
    """The spoken answer in `outputs`; the brain's apology for an unusable reply is not an answer."""
    assert outputs and all(isinstance(o, TextDelta) for o in outputs), outputs
    text = "".join(o.text for o in outputs if isinstance(o, TextDelta))
    assert FALLBACK_REPLY not in text, "the model's reply was unusable"
    return text


@pytest.mark.slow
def test_load_the_blog_writer_script(brain: LlamaBrain, real_tools: list[ToolSpec]) -> None:
    tools = [*real_tools, REMINDER]
    outputs = _reply(brain, tools, [Entry("user", "load the blog writer script")])

    assert _call(outputs, tools) == ("load_script", {"script_name": "blog_writer"})


@pytest.mark.slow
def test_an_append_request_becomes_a_file_operation(brain: LlamaBrain, real_tools: list[ToolSpec]) -> None:
    tools = [*real_tools, REMINDER]
    outputs = _reply(brain, tools, [Entry("user", "Add the line call the plumber to the end of todo.md")])

    name, args = _call(outputs, tools)

    assert name == "file_operation"
    assert args["operation"] == "append"
    assert args["filename"] == "todo.md"
    assert "plumber" in args["content"].lower()


@pytest.mark.slow
def test_forced_calls_are_valid_for_object_parameters(brain: LlamaBrain, real_tools: list[ToolSpec]) -> None:
    tools = [*real_tools, REMINDER]
    request = "Remind me to stretch at half past ten."

    name, args = _call(
        _reply(brain, tools, [Entry("user", request)], {"type": "function", "name": "set_reminder"}), tools
    )

    assert name == "set_reminder"
    assert isinstance(args["at"]["hour"], int)


@pytest.mark.slow
def test_small_talk_is_spoken(brain: LlamaBrain, real_tools: list[ToolSpec]) -> None:
    text = _text(_reply(brain, real_tools, [Entry("user", "Thanks a lot, that was really helpful!")]))

    assert len(text.split()) >= 2


@pytest.mark.slow
def test_a_tool_result_gets_a_short_spoken_answer(brain: LlamaBrain, real_tools: list[ToolSpec]) -> None:
    history = [
        Entry("user", "What files do I have?"),
        Entry("tool_call", '{"operation": "list"}', "file_operation", "c1"),
        Entry(
            "tool_result",
            '{"files": [{"name": "todo.md", "bytes": 120}, {"name": "ideas.md", "bytes": 80}]}',
            "file_operation",
            "c1",
        ),
    ]

    text = _text(_reply(brain, real_tools, history))

    assert "todo" in text.lower() or "ideas" in text.lower() or "two" in text.lower() or "2" in text
    assert len(text) <= 400


@pytest.mark.slow
def test_tool_choice_none_gives_text(brain: LlamaBrain, real_tools: list[ToolSpec]) -> None:
    text = _text(_reply(brain, real_tools, [Entry("user", "load the blog writer script")], "none"))

    assert text.strip()


@pytest.mark.slow
def test_stop_ends_the_reply_at_once(brain: LlamaBrain, real_tools: list[ToolSpec]) -> None:
    stop = threading.Event()
    request = [Entry("user", "Tell me a long story about a dragon who learns to bake bread.")]
    replies: Iterator[BrainOutput] = brain.reply(INSTRUCTIONS, request, real_tools, "none", stop)

    first = next(replies)
    stop.set()
    rest = list(replies)

    assert isinstance(first, TextDelta)
    assert rest == []


class _StopAfterFirstCheck(threading.Event):
    """A stop event that is set the moment the brain first looks at it (mid-prefill)."""

    def is_set(self) -> bool:
        if not super().is_set():
            self.set()
            return False
        return True


@pytest.mark.slow
def test_stop_during_prefill_yields_nothing(brain: LlamaBrain, real_tools: list[ToolSpec]) -> None:
    stop = _StopAfterFirstCheck()
    history = [Entry("user", "Tell me about your favourite colour and why you like it.")]

    outputs = list(
        brain.reply("New instructions, long enough to need several chunks. " * 20, history, real_tools, "auto", stop)
    )

    assert outputs == []


def test_while_the_user_listens_the_prompt_is_evaluated_up_to_their_next_turn(
    brain: LlamaBrain, real_tools: list[ToolSpec]
) -> None:
    """In a script the coach's note on the stage comes before each user turn: it is evaluated before they speak."""
    tools = [*real_tools, REMINDER]
    card = StageCard("s", "S", 1, 2, "a", "Find the angle.", "What is it about?", ("Who reads it?", "Why now?"))
    history = [
        Entry("user", "Load the blog writer."),
        Entry("tool_call", "{}", "load_script", "c1"),
        Entry("tool_result", _card_json(card), "load_script", "c1"),
        Entry("assistant", "What is it about?"),
        Entry("user", "Tomatoes on a balcony."),
        Entry("assistant", "Balcony tomatoes: noted. Who reads it?"),
    ]
    brain.prepare(INSTRUCTIONS, history, tools, threading.Event())

    next_turn = brain._fit(INSTRUCTIONS, [*history, Entry("user", "People in flats.")], tools)
    evaluated = brain._cached(next_turn)
    assert "Coaching" in brain._llm.detokenize(next_turn[:evaluated]).decode()[-1500:]  # the note is in
    left = brain._llm.detokenize(next_turn[evaluated:]).decode()
    assert left.startswith("user\nPeople in flats.") and len(next_turn) - evaluated < 20, left
