"""What a file written from a coached conversation may hold, as rules on the reply's tool call.

A small model drafting from the user's words drops what matters ("an answer by Monday"), invents structure nobody
asked for (an "Impact / Effort" map of brainstormed ideas) or appends a second copy of an email it was asked to
warm up. These narrow the call itself or settle it: the key facts a draft left out, quoted after it from the user's
own words (`key_facts`, `with_sources`; refused its end, or its sign-off, the model wrote on in placeholders or
respelled "Sincerely" as "Sincere"); a saved list of ideas as the ideas offered word for word
(`listing`); the operations an edit may use (`only_operations`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from local_realtime.brain import ToolSpec
from local_realtime.grammar import TRUSTED_PATTERN

PURPOSE_CHARS = 120
"""Longest first line of a saved list of ideas (what they are for)."""
EDITS = ("write", "replace")
"""The file operations an edit of what was written may use (a rewrite asks first; a replace changes one part)."""
_NUMBER_OR_NAME = re.compile(
    r"\b\d+(?:st|nd|rd|th)?\b|(?<=[a-z,] )[A-Z][a-z]+\b"
    r"|\b(?i:two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|fifty|hundred)\b"
)


def key_facts(said: Sequence[str]) -> list[str]:
    """The numbers and names in the user's turns (`said`), in order, once each: "the 30th", "five", "Anna", "Oslo"
    (a capitalised word inside a sentence; "I" left out): what a draft made from their words must keep."""
    found = [m[0] for text in said for m in _NUMBER_OR_NAME.finditer(text)]
    return list(dict.fromkeys(f for f in found if f != "I"))


def listing(tool: ToolSpec, ideas: Sequence[str], most: int) -> ToolSpec:
    """`tool` whose `content` (if it takes one) is "Ideas for ..." (what they are for), then a list of at most `most`
    of `ideas`, each word for word (the pattern is matched against the JSON string as written: `\\n` is a newline)."""
    properties = (tool.parameters or {}).get("properties", {})
    if "content" not in properties:
        return tool
    ideas = [idea for idea in ideas if re.fullmatch(r"[\w' &/:-]+", idea)]  # literal in llama.cpp's regex subset
    if not ideas:
        return tool
    item = "- (" + "|".join(ideas) + ")"
    repeats = max(0, min(most, len(ideas)) - 1)
    pattern = rf'^Ideas for [^"\\#\[\]]{{3,{PURPOSE_CHARS}}}\\n\\n{item}(\\n{item}){{0,{repeats}}}$'
    content = {"type": "string", "description": properties["content"].get("description", ""), TRUSTED_PATTERN: pattern}
    parameters = {**tool.parameters, "properties": {**properties, "content": content}}
    return ToolSpec(tool.name, tool.description, parameters)


_COUNTS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


def count(text: str) -> int | None:
    """How many things `text` asks for ("the best three", "top 2"), if it says."""
    found = re.search(r"\b(\d|two|three|four|five|six)\b", text, re.IGNORECASE)
    return None if found is None else int(_COUNTS.get(found[1].lower(), found[1]))


def only_operations(tool: ToolSpec, operations: Sequence[str]) -> ToolSpec:
    """`tool` whose `operation` enum (if it has one) keeps only `operations`."""
    properties = (tool.parameters or {}).get("properties", {})
    kept = [op for op in properties.get("operation", {}).get("enum", []) if op in operations]
    if not kept:
        return tool
    operation = {**properties["operation"], "enum": kept}
    return ToolSpec(
        tool.name, tool.description, {**tool.parameters, "properties": {**properties, "operation": operation}}
    )


def missing(content: str, facts: Sequence[str]) -> list[str]:
    """The `facts` that `content` (a draft, or its JSON text so far) does not hold, ignoring case."""
    written = content.lower()
    return [fact for fact in facts if fact.lower() not in written]


def with_sources(content: str, said: Sequence[str], facts: Sequence[str]) -> str:
    """`content` and, when it left out some of `facts`, a last line quoting the user's sentences (`said`: their
    turns) that hold them: "From our talk: I failed five times before my first good loaf." (nothing invented,
    nothing they said lost)."""
    left_out = missing(content, facts)
    sentences = [part.strip() for text in said for part in re.findall(r"[^.!?]+[.!?]?", text)]
    quoted = [s for s in sentences if any(re.search(rf"\b{re.escape(f)}\b", s, re.I) for f in left_out)]
    if not quoted:
        return content
    return f"{content.rstrip()}\n\nFrom our talk: {' '.join(dict.fromkeys(quoted))}"
