"""Reply grammars: tool schemas made safe for llama.cpp, the JSON schema of one reply, and id grounding.

Pure functions over JSON schemas and conversation entries; `decoding.GrammarSampler` samples under the
compiled grammar.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from local_realtime.brain import Entry, ToolSpec

MAX_STRING_CHARS = 1000  # a maxLength of 2000 makes llama.cpp's grammar parser segfault
SAY_MAX_CHARS = 400
PREAMBLE_MAX_CHARS = 80
_KEEP = ("type", "properties", "required", "enum", "const", "items", "minItems", "maxItems", "minLength")
_ANY_JSON = {"type": ["string", "number", "boolean", "object", "array"]}
SAY_SCHEMA = {
    "type": "object",
    "properties": {"say": {"type": "string", "maxLength": SAY_MAX_CHARS}},
    "required": ["say"],
    "additionalProperties": False,
}
"""A plain spoken answer: `{"say": "..."}`."""


SCRIPT_TOOLS = ("load_script", "next_stage", "goto_stage")
"""Tools whose result is a script's stage (its default file name among its words)."""
TRUSTED_PATTERN = "x-engine-pattern"
"""A string's pattern this engine wrote into a tool's schema for one reply (a tool's own patterns are dropped)."""


def sanitize_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """Reduce a tool's JSON schema to what llama.cpp's grammar converter handles safely.

    Inlines `$ref`s, drops annotations (title, description, default, format, pattern, bounds; a `TRUSTED_PATTERN`
    becomes the pattern),
    keeps types, enums and consts, caps every string at `MAX_STRING_CHARS`, closes objects that
    list properties, and turns optional `anyOf [X, null]` parameters into plain optional `X`.

    Returns:
        A new schema dict; `schema` is not modified.
    """
    defs = {**(defs or {}), **schema.get("$defs", {}), **schema.get("definitions", {})}
    if depth > 8:
        return dict(_ANY_JSON)
    if "$ref" in schema:
        target = defs.get(schema["$ref"].rsplit("/", 1)[-1])
        return sanitize_schema(target, defs, depth + 1) if target else dict(_ANY_JSON)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [sanitize_schema(s, defs, depth + 1) for s in schema[key] if s.get("type") != "null"]
            return options[0] if len(options) == 1 else {"anyOf": options or [{"type": "null"}]}
    types = schema.get("type")
    if isinstance(types, list):
        types = [t for t in types if t != "null"] or ["null"]
        schema = {**schema, "type": types[0] if len(types) == 1 else types}
    out = {k: schema[k] for k in _KEEP if k in schema}
    if "properties" in out:
        out["properties"] = {n: sanitize_schema(s, defs, depth + 1) for n, s in out["properties"].items()}
        out["required"] = [n for n in out.get("required", []) if n in out["properties"]]
        out["additionalProperties"] = False
    if "items" in out and isinstance(out["items"], dict):
        out["items"] = sanitize_schema(out["items"], defs, depth + 1)
    if out.get("type") == "string" and TRUSTED_PATTERN in schema:  # written by this engine (`reply_shape`)
        out["pattern"] = schema[TRUSTED_PATTERN]
    elif out.get("type") == "string" and "enum" not in out and "const" not in out:
        out["maxLength"] = min(int(schema.get("maxLength", MAX_STRING_CHARS)), MAX_STRING_CHARS)
        if "minLength" in out:
            out["minLength"] = min(int(out["minLength"]), out["maxLength"])
    if out.get("type") == "object" and "properties" not in out:
        out.pop("required", None)  # free-form object: the generic JSON object rule
    return out or dict(_ANY_JSON)


def reply_schema(
    tools: Sequence[ToolSpec], allow: str, spoken: Sequence[dict[str, Any]] = (SAY_SCHEMA,)
) -> dict[str, Any]:
    """The JSON schema of one reply.

    Args:
        allow: "auto" (any tool or say), "say", "tools" (any tool) or a tool name (only it).
        spoken: the shapes of a spoken answer (default `{"say": ...}`; a coach's are in `coaching.py`).

    Returns:
        `{"oneOf": [...]}` over `{"tool": const, "arguments": ...}` objects and/or the spoken shapes;
        falls back to the spoken shapes when no tool qualifies.
    """
    chosen = [] if allow == "say" else [t for t in tools if allow in ("auto", "tools", t.name)]
    options = [_call_schema(t) for t in chosen]
    if allow in ("auto", "say") or not options:
        options.extend(spoken)
    return options[0] if len(options) == 1 else {"oneOf": options}


def allowed_replies(history: Sequence[Entry], tools: Sequence[ToolSpec], tool_choice: str | dict[str, Any]) -> str:
    """Map the session's `tool_choice` and the conversation state to a `reply_schema` `allow` value.

    After a tool result the reply is say-only under "auto": the small model then always speaks the
    outcome, and cannot loop calling tools. One exception: after a failed call (an output whose JSON
    has an `error` key, the voice client's shape for failures) that was the turn's first, it may call
    again, so "no file budget_notes.md; closest: ..." can lead to the right call. A forced choice
    ("required" or a named function) still wins, because the client asked for it explicitly.
    """
    if not tools or tool_choice == "none":
        return "say"
    if isinstance(tool_choice, dict):
        name = tool_choice.get("name") or tool_choice.get("function", {}).get("name")
        return name if any(t.name == name for t in tools) else "tools"
    if tool_choice == "required":
        return "tools"
    if not history or history[-1].role != "tool_result":
        return "auto"
    return "auto" if is_failure(history[-1].text) and _calls_this_turn(history) == 1 else "say"


def is_failure(output: str) -> bool:
    """True for a tool output that reports a failure: a JSON object with an `error` key."""
    try:
        value = json.loads(output)
    except ValueError:
        return False
    return isinstance(value, dict) and "error" in value


def _calls_this_turn(history: Sequence[Entry]) -> int:
    """Tool calls since the last user message."""
    calls = 0
    for entry in reversed(history):
        if entry.role == "user":
            break
        calls += entry.role == "tool_call"
    return calls


_WORD = re.compile(r"[\w.\-/]+")
"""A word that may be an id: letters, digits and . - _ / ("bread-recipe.md", "notes/plan.md", "7")."""


def ground_ids(
    name: str, arguments: dict[str, Any], tools: Sequence[ToolSpec], history: Sequence[Entry]
) -> dict[str, Any] | None:
    """Check the `*_id` strings of a call against what was said (user turns and tool results).

    A small model fills id parameters with invented values ("1", "tax_deductions.md"), and the tool
    then fails on an unknown id. Optional ids nobody said are dropped (the tool then works over
    everything, e.g. the whole library). See `said_ids` for what counts as said.

    Returns:
        `arguments` without ungrounded optional ids, or None when a required id is ungrounded
        (the call cannot be right: choose another reply). Unknown tools pass unchanged.
    """
    tool = next((t for t in tools if t.name == name), None)
    if tool is None:
        return arguments
    required = set((tool.parameters or {}).get("required", []))
    said = said_ids(history)
    ungrounded = {
        key
        for key, value in arguments.items()
        if (key == "id" or key.endswith("_id")) and isinstance(value, str) and value.lower() not in said
    }
    if ungrounded & required:
        return None
    return {key: value for key, value in arguments.items() if key not in ungrounded}


_FILE = re.compile(r"(?<![\w./-])([\w][\w-]*(?:/[\w-]+)*)(?:\.| dot )(md|markdown|txt)\b", re.IGNORECASE)
"""A file name as typed or as heard ("notes.md", "notes/plan.md", "lighthouse dot md")."""
_SPOKEN_WORDS = re.compile(r"\b(?:to|as|into|called|named)\s+((?:[A-Za-z][\w']*\s+){1,3})$", re.IGNORECASE)
"""The words before a heard file name that belong to it ("to *heating* email.md": Whisper wrote no hyphen)."""
_NOT_NAME = frozenset({"the", "a", "an", "my", "our", "your", "file", "new", "called", "named"})
_PLACE_WORDS = frozenset(
    {"of", "in", "on", "at", "for", "with", "from", "by", "and", "or", "to", "end", "top", "bottom"}
)
_SPACED_FILE = re.compile(r"[\w][\w -]*\.(md|markdown|txt)", re.IGNORECASE)
"""A file name a model wrote from heard words, spaces and all ("heating email.md")."""


def named_files(text: str) -> list[str]:
    """The file names `text` says, in order, each as a name ("lighthouse dot md" -> "lighthouse.md"); a name heard
    as words ("save it to heating email dot md") is the words joined by hyphens ("heating-email.md")."""
    names = []
    for match in _FILE.finditer(text):
        spoken = _SPOKEN_WORDS.search(text[: match.start()])
        words = [w for w in (spoken[1].split() if spoken else []) if w.lower() not in _NOT_NAME]
        if any(w.lower() in _PLACE_WORDS for w in words):  # "to the end of todo.md": a place in the file, not a name
            words = []
        names.append("-".join([*words, match[1]]) + f".{match[2].lower()}")
    return list(dict.fromkeys(names))


def ground_files(arguments: dict[str, Any], history: Sequence[Entry]) -> dict[str, Any]:
    """The file the user named in their last turn, where the call names another nobody said.

    "Save your feedback to interview-notes.md" must write interview-notes.md, but a small model copies a
    script's default name (interview_notes.md) from its instructions. When the last user turn names exactly one
    file and no argument is it, the last argument that is a file name nobody said becomes that file.

    Returns:
        `arguments`, or a copy with that one value replaced.
    """
    last = next((e.text for e in reversed(history) if e.role == "user"), "")
    named = named_files(last)
    values = [v for v in arguments.values() if isinstance(v, str)]
    if len(named) != 1 or named[0] in values:
        return arguments
    unsaid = _unsaid_files(arguments, history)
    return {**arguments, unsaid[-1]: named[0]} if unsaid else arguments


def ground_edit(arguments: dict[str, Any], history: Sequence[Entry]) -> dict[str, Any]:
    """For a change to what was written, when the user named no file: the file a tool result named last, where the
    call names one nobody said ("make it warmer" edits neighbour-email.md, not a new neighbour-email-warmer.md).

    Returns:
        `arguments`, or a copy with that one value replaced.
    """
    last = next((e.text for e in reversed(history) if e.role == "user"), "")
    results = [name for e in history if e.role == "tool_result" for name in named_files(e.text)]
    if named_files(last) or not results:
        return arguments
    unsaid = _unsaid_files(arguments, history)
    return {**arguments, unsaid[-1]: results[-1]} if unsaid else arguments


def _unsaid_files(arguments: dict[str, Any], history: Sequence[Entry]) -> list[str]:
    """The keys of `arguments` whose value is a file name nobody said: not in a user turn, nor in a tool result
    other than a script's stage (its own default file name is not one anybody said)."""
    said = {
        name
        for e in history
        if e.role == "user" or (e.role == "tool_result" and e.name not in SCRIPT_TOOLS)
        for name in named_files(e.text)
    }
    return [k for k, v in arguments.items() if isinstance(v, str) and _SPACED_FILE.fullmatch(v) and v not in said]


def said_ids(history: Sequence[Entry]) -> set[str]:
    """Values (lower case) a call may use as ids: whole words of user turns, whole string values of tool
    results (JSON), and the words inside tool results except bare numbers. A "1" in "stage 1 of 3" or in a
    date is not an id a tool gave; "bread-recipe.md" in "Available ids: bread-recipe.md, ..." is."""
    said: set[str] = set()
    for entry in history:
        text = entry.text.lower()
        words = {w.strip(".-/") for w in _WORD.findall(text)}
        if entry.role == "user":
            said |= words
        elif entry.role == "tool_result":
            said |= {w for w in words if not w.isdigit()} | set(_string_values(text))
    return said


def _string_values(text: str) -> list[str]:
    """Every string value in `text` if it is JSON (objects and lists walked); [] otherwise."""
    try:
        pending: list[Any] = [json.loads(text)]
    except ValueError:
        return []
    found: list[str] = []
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            found.append(value)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return found


def _call_schema(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "tool": {"const": tool.name},
            "say": {"type": "string", "maxLength": PREAMBLE_MAX_CHARS},
            "arguments": sanitize_schema(tool.parameters),
        },
        "required": ["tool", "say", "arguments"],
        "additionalProperties": False,
    }


@lru_cache(maxsize=32)
def to_gbnf(schema_json: str) -> str:
    """GBNF text for a JSON schema (a JSON string, so it can be cached); properties keep their order."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(schema_json)
