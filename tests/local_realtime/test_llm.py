"""The llama.cpp brain: schema sanitising and prompt building, then the real model in a handful of calls."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from local_realtime.brain import BrainOutput, Entry, FunctionCall, TextDelta, ToolSpec
from local_realtime.llm import LlamaBrain, SayDecoder, pick_examples, render_prefix, render_prompt, render_tools
from local_realtime.model import locate_model
from mcp_server.server import build_server
from tests.local_realtime.test_grammar import FILE_SCHEMA, REMINDER
from tests.servers import make_config

# --- without the model ---------------------------------------------------------------------------


def test_each_tool_is_one_short_line_with_enums_and_optional_marks() -> None:
    long_description = "Read and edit files.\n\n" + "More detail here. " * 30
    tools = [ToolSpec("file_operation", long_description, FILE_SCHEMA), REMINDER]

    lines = render_tools(tools).splitlines()

    assert len(lines) == 2
    assert lines[0].startswith(
        '- file_operation(operation: "read"|"append", filename?, content?, line_number?: integer, note?): '
        "Read and edit files. More detail here. More"
    )
    assert lines[0].endswith(" ...") and lines[0].count("More detail") < 20  # cut at TOOL_NOTE_CHARS
    assert lines[1] == "- set_reminder(text, at: {hour, minute}): Remind the user at a time of day. Times are 24-hour."


def test_required_parameters_carry_their_description_in_brief() -> None:
    described = {
        "type": "object",
        "properties": {
            "script_name": {"type": "string", "description": "One of: blog_writer, improv_game."},
            "notes": {"type": "string", "description": "word " * 40},
        },
        "required": ["script_name", "notes"],
    }

    line = render_tools([ToolSpec("load_script", "Start a script.", described)])

    assert line.startswith("- load_script(script_name (One of: blog_writer, improv_game.), notes (word word")
    assert line.endswith(" ...)): Start a script.")
    assert line.count("word") == 16  # cut at 80 characters, on a word boundary


def test_examples_only_use_tools_and_values_that_exist() -> None:
    scripts = {"type": "object", "properties": {"script_name": {"enum": ["improv_game"]}}, "required": []}
    tools = [
        ToolSpec("load_script", "", scripts),
        ToolSpec(
            "search_library", "", {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
        ),
    ]

    examples = pick_examples(tools)

    assert [reply.get("tool") for _, reply in examples] == ["search_library", None, None]
    assert "say" in examples[-1][1]


def test_instructions_come_after_the_cacheable_prefix() -> None:
    history = [
        Entry("user", "remind me to stretch at ten"),
        Entry("tool_call", '{"text": "stretch", "at": {"hour": 10, "minute": 0}}', "set_reminder", "c1"),
        Entry("tool_result", '{"ok": true}', "set_reminder", "c1"),
        Entry("assistant", "Done."),
    ]

    first = render_prompt("Be brief.", history, [REMINDER])
    second = render_prompt("Be very formal.", history, [REMINDER])

    assert first.startswith(render_prefix([REMINDER], ""))
    assert second.startswith(render_prefix([REMINDER], ""))
    assert '{"tool": "set_reminder", "arguments": {"text": "stretch", "at": {"hour": 10, "minute": 0}}}' in first
    assert '<tool_response name="set_reminder">\n{"ok": true}\n</tool_response>' in first
    assert '{"say": "Done."}' in first
    assert first.endswith("<|im_start|>assistant\n")


def test_the_say_string_is_decoded_as_it_streams() -> None:
    raw = json.dumps({"say": 'He said "hi" \\ café\nbye'})
    decoder = SayDecoder()

    pieces = [decoder.feed(char) for char in raw]

    assert decoder.kind == "say"
    assert "".join(pieces) == 'He said "hi" \\ café\nbye'
    assert sum(1 for p in pieces if p) > 10  # character by character, not at the end


def test_a_tool_call_yields_no_spoken_text() -> None:
    decoder = SayDecoder()

    pieces = [decoder.feed(c) for c in '{"tool": "say", "arguments": {"say": "x"}}']

    assert decoder.kind == "tool"
    assert "".join(pieces) == ""


# --- with the real model ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
async def real_tools(tmp_path_factory: pytest.TempPathFactory) -> list[ToolSpec]:
    """The real MCP server's tools as the voice client would declare them."""
    server = build_server(make_config(tmp_path_factory.mktemp("llm-tools")))
    return [ToolSpec(t.name, t.description or "", t.input_schema) for t in await server.list_tools()]


@pytest.fixture(scope="session")
def brain(real_tools: list[ToolSpec]) -> LlamaBrain:
    """The packaged Qwen2.5-Coder-1.5B, loaded once and warmed with the real tools."""
    model = LlamaBrain(locate_model(Path.home() / ".cache" / "realtime-mcp-assistant" / "models"))
    model.warm([*real_tools, REMINDER], INSTRUCTIONS)
    return model


INSTRUCTIONS = "You are a friendly voice assistant. Keep answers short."


def _reply(brain: LlamaBrain, tools: list[ToolSpec], history: list[Entry], choice: Any = "auto") -> list[BrainOutput]:
    return list(brain.reply(INSTRUCTIONS, history, tools, choice, threading.Event()))


def _call(outputs: list[BrainOutput], tools: list[ToolSpec]) -> tuple[str, dict[str, Any]]:
    assert len(outputs) == 1 and isinstance(outputs[0], FunctionCall), outputs
    call = outputs[0]
    args = json.loads(call.arguments)
    schema = next(t.parameters for t in tools if t.name == call.name)
    jsonschema.validate(args, schema)
    return call.name, args


def _text(outputs: list[BrainOutput]) -> str:
    assert outputs and all(isinstance(o, TextDelta) for o in outputs), outputs
    return "".join(o.text for o in outputs if isinstance(o, TextDelta))


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
