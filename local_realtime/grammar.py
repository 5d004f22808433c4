"""Reply grammars: tool schemas made safe for llama.cpp, the JSON schema of one reply, and sampling under it.

`sanitize_schema` and `reply_schema` are pure functions over JSON schemas; `GrammarSampler` picks each
token greedily under the compiled grammar, checking only the model's favourite token in the common case.
"""

from __future__ import annotations

import ctypes
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np

from local_realtime.brain import Entry, ToolSpec

MAX_STRING_CHARS = 1000  # a maxLength of 2000 makes llama.cpp's grammar parser segfault
SAY_MAX_CHARS = 400
_KEEP = ("type", "properties", "required", "enum", "const", "items", "minItems", "maxItems", "minLength")
_ANY_JSON = {"type": ["string", "number", "boolean", "object", "array"]}
_SAY = {
    "type": "object",
    "properties": {"say": {"type": "string", "maxLength": SAY_MAX_CHARS}},
    "required": ["say"],
    "additionalProperties": False,
}


def sanitize_schema(schema: dict[str, Any], defs: dict[str, Any] | None = None, depth: int = 0) -> dict[str, Any]:
    """Reduce a tool's JSON schema to what llama.cpp's grammar converter handles safely.

    Inlines `$ref`s, drops annotations (title, description, default, format, pattern, bounds),
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
    if out.get("type") == "string" and "enum" not in out and "const" not in out:
        out["maxLength"] = min(int(schema.get("maxLength", MAX_STRING_CHARS)), MAX_STRING_CHARS)
        if "minLength" in out:
            out["minLength"] = min(int(out["minLength"]), out["maxLength"])
    if out.get("type") == "object" and "properties" not in out:
        out.pop("required", None)  # free-form object: the generic JSON object rule
    return out or dict(_ANY_JSON)


def reply_schema(tools: Sequence[ToolSpec], allow: str) -> dict[str, Any]:
    """The JSON schema of one reply.

    Args:
        allow: "auto" (any tool or say), "say", "tools" (any tool) or a tool name (only it).

    Returns:
        `{"oneOf": [...]}` over `{"tool": const, "arguments": ...}` objects and/or the say object;
        falls back to say-only when no tool qualifies.
    """
    chosen = [] if allow == "say" else [t for t in tools if allow in ("auto", "tools", t.name)]
    options = [_call_schema(t) for t in chosen]
    if allow in ("auto", "say") or not options:
        options.append(_SAY)
    return options[0] if len(options) == 1 else {"oneOf": options}


def allowed_replies(history: Sequence[Entry], tools: Sequence[ToolSpec], tool_choice: str | dict[str, Any]) -> str:
    """Map the session's `tool_choice` and the conversation state to a `reply_schema` `allow` value.

    After a tool result the reply is say-only under "auto": the small model then always speaks the
    outcome, and cannot loop calling tools; a forced choice ("required" or a named function) still
    wins, because the client asked for it explicitly.
    """
    if not tools or tool_choice == "none":
        return "say"
    if isinstance(tool_choice, dict):
        name = tool_choice.get("name") or tool_choice.get("function", {}).get("name")
        return name if any(t.name == name for t in tools) else "tools"
    if tool_choice == "required":
        return "tools"
    return "say" if history and history[-1].role == "tool_result" else "auto"


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
        "properties": {"tool": {"const": tool.name}, "arguments": sanitize_schema(tool.parameters)},
        "required": ["tool", "arguments"],
        "additionalProperties": False,
    }


@lru_cache(maxsize=32)
def to_gbnf(schema_json: str) -> str:
    """GBNF text for a JSON schema (a JSON string, so it can be cached); properties keep their order."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(schema_json)


class GrammarSampler:
    """Greedy token choice under a GBNF grammar for one reply.

    llama-cpp-python's sampler chain runs the grammar over all ~150k candidates for every token,
    which measured 1.3-8 tokens/s here instead of 34. Like llama.cpp's own `common_sampler`, this
    first checks only the model's top token against the grammar and falls back to the full
    candidate list when the grammar rejects it; greedy results are the same.

    Args:
        model: a loaded `llama_cpp.Llama`.
        gbnf: grammar text from `to_gbnf`.

    Raises:
        ValueError: llama.cpp could not parse the grammar.
    """

    def __init__(self, model: Any, gbnf: str) -> None:
        import llama_cpp
        from llama_cpp._internals import LlamaTokenDataArray

        self._lib = llama_cpp
        self._model = model
        self._vocab = model._model.vocab  # the same handle Llama's own sampler chain uses
        self._n_vocab = model.n_vocab()
        self._sampler = llama_cpp.llama_sampler_init_grammar(self._vocab, gbnf.encode("utf-8"), b"root")
        if not self._sampler:
            raise ValueError("llama.cpp rejected the reply grammar")
        self._all = LlamaTokenDataArray(n_vocab=self._n_vocab)
        self._one = (llama_cpp.llama_token_data * 1)()
        self._one_array = llama_cpp.llama_token_data_array(data=self._one, size=1, selected=-1, sorted=False)

    def pick(self) -> int:
        """The best token the grammar allows, from the logits of the last evaluated token."""
        pointer = self._lib.llama_get_logits_ith(self._model._ctx.ctx, -1)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        token = int(np.argmax(logits))
        self._one[0].id, self._one[0].logit, self._one[0].p = token, float(logits[token]), 0.0
        self._one_array.size, self._one_array.selected = 1, -1
        self._lib.llama_sampler_apply(self._sampler, ctypes.byref(self._one_array))
        if np.isfinite(self._one[0].logit):
            return token
        self._all.copy_logits(logits)
        self._lib.llama_sampler_apply(self._sampler, ctypes.byref(self._all.candidates))
        data = self._all.candidates_data
        return int(data.id[int(np.argmax(data.logit[: self._all.candidates.size]))])

    def accept(self, token: int) -> None:
        """Advance the grammar past `token` (call for every token kept)."""
        self._lib.llama_sampler_accept(self._sampler, token)

    def is_end(self, token: int) -> bool:
        """True for end-of-generation tokens (the grammar allows them only once the JSON is complete)."""
        return bool(self._lib.llama_vocab_is_eog(self._vocab, token))

    def close(self) -> None:
        """Free the llama.cpp sampler."""
        if self._sampler:
            self._lib.llama_sampler_free(self._sampler)
            self._sampler = None
