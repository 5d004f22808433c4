"""The brain's prompt and reply format, without the model: tool lines, few-shot turns, cache-friendly
order, and reading the streamed JSON reply."""

from __future__ import annotations

import json

from local_realtime.brain import Entry, ToolSpec
from local_realtime.few_shot import PACKAGED_FEW_SHOT, Example, load_few_shot
from local_realtime.prompt import ReplyReader, pick_examples, render_prefix, render_prompt, render_tools
from tests.local_realtime.test_grammar import FILE_SCHEMA, REMINDER

EXAMPLES = load_few_shot(PACKAGED_FEW_SHOT)


def full_prompt(instructions: str, history: list[Entry], tools: list[ToolSpec]) -> str:
    """`render_prompt` with the packaged few-shot examples."""
    return render_prompt(instructions, history, tools, EXAMPLES)


def test_each_tool_is_one_line_with_enums_optional_marks_and_its_first_sentence() -> None:
    description = "Read and edit markdown files in the workspace.\n\nOperations: " + "more detail here. " * 40
    catalogue = "Start a script: improv_game = Yes, And... Improv Game; interview_prep = Interview Coach. More."
    tools = [ToolSpec("file_operation", description, FILE_SCHEMA), REMINDER, ToolSpec("load_script", catalogue)]

    lines = render_tools(tools).splitlines()

    assert lines[0] == (
        '- file_operation(operation: "read"|"append", filename?, content?, line_number?: integer, note?): '
        "Read and edit markdown files in the workspace."
    )
    assert lines[1] == "- set_reminder(text, at: {hour, minute}): Remind the user at a time of day."
    assert lines[2].endswith("interview_prep = Interview Coach.")  # an ellipsis does not end the sentence


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
    search = {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
    tools = [ToolSpec("load_script", "", scripts), ToolSpec("search_library", "", search)]

    examples = pick_examples(tools, EXAMPLES)

    calls = [e.name for e in examples if e.role == "tool_call"]
    assert calls and set(calls) == {"search_library"}  # blog_writer is not a valid script_name here
    assert examples[-1].role == "assistant" and examples[-2].role == "user"  # ends with spoken small talk
    results = [e for e in examples if e.role == "tool_result"]
    assert results, "a worked example of answering from a search result"
    assert any("45 minutes" in e.text for e in examples if e.role == "assistant")  # the fact, copied exactly
    assert '{"tool": "search_library", "say": "Let me check your recipe.", "arguments": {"query": "How long ' in (
        render_prefix(tools, "", EXAMPLES)
    )  # arguments in the file's order, as the model has always seen them


def test_examples_for_another_server_are_data() -> None:
    weather = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    tools = [ToolSpec("get_forecast", "Tomorrow's weather for a city.", weather)]
    examples = [
        Example(user="Will it rain in Oslo?", tool="get_forecast", say="Checking.", arguments={"city": "Oslo"}),
        Example(user="Open my notes.", tool="file_operation", say="Opening.", arguments={"operation": "read"}),
        Example(user="Hi!", say="Hello!"),
    ]

    prefix = render_prefix(tools, "Be brief.", examples)

    assert '{"tool": "get_forecast", "say": "Checking.", "arguments": {"city": "Oslo"}}' in prefix
    assert "Open my notes." not in prefix  # its tool is not in this session
    assert prefix.index('{"say": "Hello!"}') < prefix.index("Be brief.")
    assert "Will it rain" not in render_prefix(tools, "Be brief.", [])


def test_instructions_come_after_the_cacheable_prefix_and_changes_where_they_happened() -> None:
    history = [
        Entry("user", "remind me to stretch at ten"),
        Entry("assistant", "Setting a reminder."),
        Entry("tool_call", '{"text": "stretch", "at": {"hour": 10, "minute": 0}}', "set_reminder", "c1"),
        Entry("tool_result", '{"ok": true}', "set_reminder", "c1"),
        Entry("system", "Be very formal."),
        Entry("assistant", "Done."),
    ]

    prompt = full_prompt("Be brief.", history, [REMINDER])

    assert prompt.startswith(render_prefix([REMINDER], "Be brief.", EXAMPLES))
    # the preamble and its call are one reply, as the model generates it
    assert '{"tool": "set_reminder", "say": "Setting a reminder.", "arguments": {"text": "stretch", ' in prompt
    assert '<tool_response name="set_reminder">\n{"ok": true}\n</tool_response>' in prompt
    # changed by the call's turn: in force after that turn's answer
    assert prompt.index('{"say": "Done."}') < prompt.index("Be very formal.")
    assert prompt.endswith("<|im_start|>assistant\n")


def test_instructions_a_tool_changed_wait_for_the_answer_and_the_prompt_only_grows() -> None:
    turn = [
        Entry("user", "remind me to stretch at ten"),
        Entry("assistant", "Setting a reminder."),
        Entry("tool_call", '{"text": "stretch", "at": {"hour": 10, "minute": 0}}', "set_reminder", "c1"),
        Entry("system", "You are a strict coach."),  # the voice client applies a script's instructions first
        Entry("tool_result", '{"ok": true}', "set_reminder", "c1"),
    ]
    answering = full_prompt("Be brief.", turn, [REMINDER])
    later = full_prompt("Be brief.", [*turn, Entry("assistant", "Done."), Entry("user", "hop to it")], [REMINDER])
    unanswered = full_prompt("Be brief.", [*turn, Entry("user", "halt now")], [REMINDER])

    assert "strict coach" not in answering  # the answer is made from the result alone, at once
    assert later.startswith(answering)  # nothing evaluated for the answer is evaluated again
    assert later.index('{"say": "Done."}') < later.index("strict coach") < later.index("hop to it")
    assert unanswered.index("strict coach") < unanswered.index("halt now")
    asked = full_prompt("Be brief.", [Entry("user", "which reminders do I have?"), *turn[1:]], [REMINDER])
    assert "strict coach" in asked  # after a question, the answer is made under the new instructions
    without_a_tool = full_prompt("Be brief.", [Entry("user", "hi"), Entry("system", "Be loud.")], [REMINDER])
    assert "Be loud." in without_a_tool  # a change outside a tool turn is in force at once


def test_a_change_of_instructions_leaves_the_earlier_prompt_unchanged() -> None:
    before = [Entry("user", "hello"), Entry("assistant", "Hi!")]

    first = full_prompt("Be brief.", before, [REMINDER])
    later = full_prompt("Be brief.", [*before, Entry("system", "You are a coach."), Entry("user", "go")], [REMINDER])

    assert later.startswith(first.removesuffix("<|im_start|>assistant\n"))


def test_the_spoken_text_is_decoded_as_it_streams() -> None:
    raw = json.dumps({"say": 'He said "hi" \\ café\nbye'}, ensure_ascii=False)
    reader = ReplyReader()

    pieces = [reader.feed(char) for char in raw]

    assert "".join(pieces) == 'He said "hi" \\ café\nbye'
    assert sum(1 for p in pieces if p) > 10  # character by character, not at the end
    assert reader.complete and reader.tool is None


def test_a_tool_call_speaks_its_preamble_only() -> None:
    reader = ReplyReader()
    raw = '{"tool": "load_script", "say": "Loading it.", "arguments": {"say": "not this"}}'

    spoken = "".join(reader.feed(c) for c in raw)

    assert spoken == "Loading it."
    assert reader.tool == "load_script" and reader.complete
    assert reader.value["arguments"] == {"say": "not this"}


def test_an_unfinished_reply_is_not_complete() -> None:
    reader = ReplyReader()
    reader.feed('{"tool": "load_script", "say": "Loading')

    assert not reader.complete
