"""Reply grammars: tool schemas sanitised for llama.cpp and the reply schema per tool choice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from local_realtime.brain import Entry, ToolSpec
from local_realtime.grammar import (
    MAX_STRING_CHARS,
    allowed_replies,
    ground_ids,
    reply_schema,
    sanitize_schema,
    to_gbnf,
)
from mcp_server.server import build_server
from tests.servers import make_config

FILE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "file_operationArguments",
    "properties": {
        "operation": {"type": "string", "enum": ["read", "append"], "title": "Operation"},
        "filename": {"type": "string", "default": "output.md", "description": "Workspace file"},
        "content": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "line_number": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}], "default": None},
        "note": {"type": "string", "maxLength": 5000, "pattern": "^.*$"},
    },
    "required": ["operation", "missing_key"],
}
REMINDER = ToolSpec(
    "set_reminder",
    "Remind the user at a time of day. Times are 24-hour.",
    {
        "type": "object",
        "properties": {
            "text": {"type": "string"},
            "at": {"$ref": "#/$defs/Time"},
        },
        "required": ["text", "at"],
        "$defs": {
            "Time": {
                "type": "object",
                "properties": {"hour": {"type": "integer"}, "minute": {"type": "integer"}},
                "required": ["hour", "minute"],
            }
        },
    },
)


def test_sanitised_schema_keeps_types_and_enums_and_drops_annotations() -> None:
    clean = sanitize_schema(FILE_SCHEMA)

    assert clean["required"] == ["operation"]
    assert clean["additionalProperties"] is False
    props = clean["properties"]
    assert props["operation"] == {"type": "string", "enum": ["read", "append"]}
    assert props["filename"] == {"type": "string", "maxLength": MAX_STRING_CHARS}
    assert props["content"]["type"] == "string"  # optional and nullable -> plain optional string
    assert props["line_number"] == {"type": "integer"}
    assert props["note"]["maxLength"] == MAX_STRING_CHARS  # 5000 would crash llama.cpp's grammar parser
    assert "pattern" not in props["note"]
    assert "title" not in json.dumps(clean)


def test_refs_are_inlined_and_free_form_objects_stay_open() -> None:
    clean = sanitize_schema(REMINDER.parameters)
    free = sanitize_schema({"type": "object", "additionalProperties": True, "description": "Script JSON"})

    assert clean["properties"]["at"]["properties"] == {"hour": {"type": "integer"}, "minute": {"type": "integer"}}
    assert "$defs" not in json.dumps(clean)
    assert free == {"type": "object"}


def test_reply_schema_honours_the_allowed_replies() -> None:
    tools = [ToolSpec("file_operation", "Files.", FILE_SCHEMA), REMINDER]

    auto = reply_schema(tools, "auto")["oneOf"]
    only_tools = reply_schema(tools, "tools")["oneOf"]
    named = reply_schema(tools, "set_reminder")
    say = reply_schema(tools, "say")

    assert [o["properties"].get("tool", {}).get("const") for o in auto] == ["file_operation", "set_reminder", None]
    assert all("tool" in o["properties"] for o in only_tools)
    assert named["properties"]["tool"] == {"const": "set_reminder"}
    assert list(say["properties"]) == ["say"]
    # the grammar emits keys in this order: the tool first, then what to say while it runs, then its arguments
    assert list(auto[0]["properties"]) == ["tool", "say", "arguments"]


def test_tool_choice_and_a_fresh_tool_result_pick_the_reply_kinds() -> None:
    tools = [REMINDER]
    asked = [Entry("user", "remind me")]
    answered = [*asked, Entry("tool_call", "{}", "set_reminder", "c1"), Entry("tool_result", "ok", "set_reminder")]

    assert allowed_replies(asked, tools, "auto") == "auto"
    assert allowed_replies(asked, tools, "none") == "say"
    assert allowed_replies(asked, tools, "required") == "tools"
    assert allowed_replies(asked, tools, {"type": "function", "name": "set_reminder"}) == "set_reminder"
    assert allowed_replies(asked, tools, {"type": "function", "name": "unknown"}) == "tools"
    assert allowed_replies(answered, tools, "auto") == "say"
    assert allowed_replies(asked, [], "required") == "say"


def test_after_a_failed_call_one_more_call_may_follow() -> None:
    tools = [REMINDER]
    call = Entry("tool_call", "{}", "set_reminder", "c1")
    failed = Entry("tool_result", '{"error": "no time given; say when"}', "set_reminder", "c1")
    once = [Entry("user", "remind me"), call, failed]
    twice = [*once, Entry("tool_call", "{}", "set_reminder", "c2"), failed]

    assert allowed_replies(once, tools, "auto") == "auto"
    assert allowed_replies(twice, tools, "auto") == "say"  # no loop of failing calls


async def test_the_real_tool_list_builds_a_grammar(tmp_path: Path) -> None:
    server = build_server(make_config(tmp_path))
    tools = [ToolSpec(t.name, t.description or "", t.input_schema) for t in await server.list_tools()]

    gbnf = to_gbnf(json.dumps(reply_schema([*tools, REMINDER], "auto")))

    for tool in [*tools, REMINDER]:
        assert f'"\\"{tool.name}\\""' in gbnf
    assert '"\\"say\\""' in gbnf
    assert "{" not in gbnf.replace('"{"', "")  # repetitions expanded in Python, none left for llama.cpp


SEARCH = ToolSpec(
    "search_library",
    "Search the library.",
    {
        "type": "object",
        "properties": {"query": {"type": "string"}, "document_id": {"type": "string"}, "top_k": {"type": "integer"}},
        "required": ["query"],
    },
)
READ = ToolSpec(
    "read_passage",
    "Read a passage.",
    {"type": "object", "properties": {"document_id": {"type": "string"}}, "required": ["document_id"]},
)


def test_invented_optional_ids_are_dropped_said_ones_kept_and_invented_required_ones_refused() -> None:
    history = [
        Entry("tool_result", '{"documents": [{"id": "bread-recipe.md"}]}', "list_documents"),
        Entry("user", "Search my library for how long to bake the bread."),
    ]
    invented = {"query": "bake bread", "document_id": "1", "top_k": 3}
    assert ground_ids("search_library", invented, [SEARCH], history) == {"query": "bake bread", "top_k": 3}
    grounded = {"query": "bake bread", "document_id": "Bread-Recipe.md"}
    assert ground_ids("search_library", grounded, [SEARCH], history) == grounded
    assert ground_ids("read_passage", {"document_id": "tax.md"}, [READ], history) is None
    assert ground_ids("read_passage", {"document_id": "bread-recipe.md"}, [READ], history) is not None
    assert ground_ids("unknown_tool", invented, [SEARCH], history) == invented


def test_a_number_in_a_tools_prose_or_a_date_is_not_an_id_but_one_the_user_said_or_a_tool_gave_is() -> None:
    script = '{"stage_number": 1, "instructions": "stage 1 of 3", "content": "*Created on: 2026-11-24*"}'
    history = [Entry("tool_result", script, "load_script"), Entry("user", "Search my library for bread.")]
    invented = {"query": "bread", "document_id": "1"}
    assert ground_ids("search_library", invented, [SEARCH], history) == {"query": "bread"}
    said = [*history, Entry("user", "Only in document 1.")]
    assert ground_ids("search_library", invented, [SEARCH], said) == invented
    listing = Entry("tool_result", '{"documents": [{"document_id": "7"}, {"document_id": "My Notes.md"}]}')
    assert ground_ids("read_passage", {"document_id": "7"}, [READ], [listing]) is not None
    assert ground_ids("read_passage", {"document_id": "my notes.md"}, [READ], [listing]) is not None
    error = Entry("tool_result", '{"error": "No document \'1\'. Available ids: bread-recipe.md, garden-plan.md."}')
    assert ground_ids("read_passage", {"document_id": "garden-plan.md"}, [READ], [error]) is not None
    assert ground_ids("read_passage", {"document_id": "1"}, [READ], [error]) is None


def test_an_empty_search_on_the_user_s_own_life_can_only_be_answered_as_nothing_found() -> None:
    from llama_cpp import LlamaGrammar

    from local_realtime.grammar import SAY_SCHEMA
    from local_realtime.reply_shape import NOTHING_FOUND, ReplyShape

    nothing = "The user's documents say nothing about 'What did the team decide about the office party?'."

    def after(question: str, result: str) -> ReplyShape:
        return ReplyShape.of([Entry("user", question), Entry("tool_result", result, "call_1")])

    assert after("What did the team decide about the office party?", nothing).spoken == [NOTHING_FOUND]
    assert after("Who wrote Moby-Dick?", nothing.replace("What did", "Who")).spoken == [SAY_SCHEMA]  # world facts
    assert after("When is my dentist appointment?", "Dentist: 9 December.").spoken == [SAY_SCHEMA]
    LlamaGrammar.from_string(to_gbnf(json.dumps(reply_schema([], "say", [NOTHING_FOUND]))), verbose=False)


def test_an_answer_telling_a_tools_result_names_only_files_the_conversation_holds() -> None:
    """A list of the library's documents went on with names of the model's own ("laundry-list.md")."""
    from local_realtime.reply_shape import ReplyShape

    listed = '{"result": [{"document_id": "garden-plan.md"}, {"document_id": "workspace:packing-list.md"}]}'
    shape = ReplyShape.of([Entry("user", "What's on the packing list?"), Entry("tool_result", listed, "call_1")])
    said = '{"say": "Your library holds garden-plan.md, packing-list.md and laundry-list'
    assert not shape.rejects('{"say": "Your library holds garden-plan', ".md")
    assert not shape.rejects('{"say": "Your library holds garden-plan.md, packing-list', ".md,")
    assert shape.rejects(said, ".md")
    assert shape.rejects(said + ".", "md")
    assert not shape.rejects(said, " and")  # a word may still be said; only the file it was made into is refused
    asked = ReplyShape.of([Entry("user", "Save it to lighthouse dot md")])  # not telling a result: any name
    assert not asked.rejects('{"say": "Saving it to lighthouse', ".md")


def test_a_question_about_what_a_document_says_lists_nothing() -> None:
    """ "What's on the packing list?" listed the library's documents, then the scripts, then the workspace's files,
    and was answered with their names; "Which documents are in my library?" may still list them."""
    from local_realtime.reply_shape import ReplyShape

    operations = {"type": "string", "enum": ["read", "write", "list"]}
    tools = [
        ToolSpec("list_documents", "", {"type": "object", "properties": {}}),
        ToolSpec("list_scripts", "", {"type": "object", "properties": {}}),
        ToolSpec("file_operation", "", {"type": "object", "properties": {"operation": operations}}),
        ToolSpec("search_library", "", {"type": "object", "properties": {"query": {"type": "string"}}}),
    ]

    def usable(request: str) -> dict[str, list[str]]:
        found = ReplyShape.of([Entry("user", request)]).usable(tools)
        return {t.name: t.parameters["properties"].get("operation", {}).get("enum", []) for t in found}

    assert usable("What's on the packing list?") == {"file_operation": ["read", "write"], "search_library": []}
    assert "list_documents" in usable("Which documents are in my library?")
    assert "list_scripts" in usable("What can we do today?")
    assert usable("What files do I have in my workspace?")["file_operation"] == ["read", "write", "list"]
