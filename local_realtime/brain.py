"""The engine's brain: decides, from the conversation so far, to speak or to call a tool.

`Brain` is the seam between the Realtime protocol server (`server.py`) and a model. The server
turns its conversation items into `Entry` values, calls `Brain.reply` in a worker thread and turns
what comes back into GA response events. `llm.py` holds the real llama.cpp brain; `RuleBrain`
here is a small deterministic brain for protocol tests.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

APPROVAL_KEY = "pending_approval"
"""Contract with the voice client (README, "Contracts between the programs"): a function output whose JSON has
this string is a question for the user about a held tool call ("Overwrite notes.md? ... Say yes or no.")."""


@dataclass(frozen=True)
class Entry:
    """One conversation item as the brain sees it.

    Attributes:
        role: "user" or "assistant" for messages; "tool_call" for a function call the assistant
            made; "tool_result" for the output the client sent back; "system" for instructions that
            took effect at this point of the conversation (a `session.update` or a system message);
            "note" for guidance the brain's prompt adds itself (`coaching.annotate`), never from a client.
        text: message text, tool arguments (JSON string) or tool output (string).
        name: tool name for "tool_call" (and "tool_result" when known); "json" on an "assistant" entry whose
            text is already the reply's JSON (a coach's turn in its shape, see `coaching.annotate`).
        call_id: Realtime `call_id` linking a call and its result.
    """

    role: Literal["user", "assistant", "tool_call", "tool_result", "system", "note"]
    text: str
    name: str | None = None
    call_id: str | None = None


@dataclass(frozen=True)
class ToolSpec:
    """A Realtime function tool: `name`, `description` and JSON-schema `parameters`."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class TextDelta:
    """A piece of the spoken or written answer, in order."""

    text: str
    last: bool = False
    """True on the last piece of this text (a preamble's end comes before its call's arguments): what is
    still waiting for a sentence end can be spoken now."""


@dataclass(frozen=True)
class FunctionCall:
    """A complete tool call; `arguments` is a JSON object encoded as a string."""

    name: str
    arguments: str


BrainOutput = TextDelta | FunctionCall


class Brain(Protocol):
    """Anything that turns a conversation into a reply.

    `reply` runs in a worker thread and yields as it goes; it must return soon after `stop` is set
    (cancellation and barge-in). `tool_choice` is the session's value: "auto", "none", "required"
    or {"type": "function", "name": ...}.
    """

    def reply(
        self,
        instructions: str,
        history: list[Entry],
        tools: list[ToolSpec],
        tool_choice: str | dict[str, Any],
        stop: threading.Event,
    ) -> Iterator[BrainOutput]: ...

    def warm(self, tools: list[ToolSpec], instructions: str) -> None:
        """Prepare for replies with these tools and instructions (e.g. prefill a prompt cache)."""
        ...

    def prepare(self, instructions: str, history: list[Entry], tools: list[ToolSpec], stop: threading.Event) -> None:
        """Do ahead what a reply to `history` would do first (e.g. evaluate its prompt); may do nothing."""
        ...


def tool_specs(tools: Iterable[dict[str, Any]]) -> list[ToolSpec]:
    """Realtime function tools (`{type, name, description, parameters}` dicts) as `ToolSpec`s."""
    empty = {"type": "object", "properties": {}}
    return [ToolSpec(t["name"], t.get("description") or "", t.get("parameters") or empty) for t in tools]


@dataclass(frozen=True)
class SpokenCall:
    """A `RuleBrain` rule for spoken requests, where JSON cannot be said: user words matching `pattern` call
    `tool` with `argument` set to the pattern's first group, spaces as underscores."""

    pattern: str
    """A regular expression with one group, searched in the lowercased text, e.g. `r"open (?:the )?(\\w+) file"`."""
    tool: str
    argument: str


@dataclass
class RuleBrain:
    """A deterministic brain for tests: keyword rules, no model.

    - After a tool result it says "Done: <first 80 characters of the output>".
    - "call <tool> with <json>" calls any tool with those arguments (several such phrases joined
      by " and also " make parallel calls).
    - Each of `spoken_calls` whose tool exists and pattern matches calls it (the first that does).
    - Anything else is echoed: "You said: <text>".
    """

    spoken_calls: tuple[SpokenCall, ...] = ()
    _CALL = re.compile(r"call (\w+) with (\{.*?\})(?= and also |$)")

    def reply(
        self,
        instructions: str,
        history: list[Entry],
        tools: list[ToolSpec],
        tool_choice: str | dict[str, Any],
        stop: threading.Event,
    ) -> Iterator[BrainOutput]:
        last = history[-1] if history else Entry("user", "")
        names = {t.name for t in tools}
        if (question := pending_question(history)) is not None:
            yield from words(question, stop)
            return
        if last.role == "tool_result":
            yield from words(f"Done: {last.text[:80]}", stop)
            return
        if tool_choice != "none" and last.role == "user":
            calls = [(m.group(1), m.group(2)) for m in self._CALL.finditer(last.text)]
            calls = [(n, a) for n, a in calls if n in names]
            if calls:
                for name, args in calls:
                    yield FunctionCall(name, args)
                return
            for rule in self.spoken_calls:
                spoken = re.search(rule.pattern, last.text.lower())
                if spoken and rule.tool in names:
                    yield FunctionCall(rule.tool, json.dumps({rule.argument: spoken.group(1).replace(" ", "_")}))
                    return
        yield from words(f"You said: {last.text}", stop)

    def warm(self, tools: list[ToolSpec], instructions: str) -> None:
        """Nothing to prepare: rules need no prompt cache."""

    def prepare(self, instructions: str, history: list[Entry], tools: list[ToolSpec], stop: threading.Event) -> None:
        """Nothing to prepare: rules need no prompt."""


def pending_question(history: list[Entry]) -> str | None:
    """The question a held tool call puts to the user, when the last entry is one (`APPROVAL_KEY`): said as it
    is, by any brain, so that the user hears exactly what would happen."""
    last = history[-1] if history else None
    if last is None or last.role != "tool_result":
        return None
    try:
        value = json.loads(last.text).get(APPROVAL_KEY)
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) and value.strip() else None


def words(text: str, stop: threading.Event) -> Iterator[TextDelta]:
    """`text` as `TextDelta`s, a word at a time, until `stop` is set."""
    pieces = text.split(" ")
    for i, word in enumerate(pieces):
        if stop.is_set():
            return
        yield TextDelta(word if i == 0 else " " + word, last=i == len(pieces) - 1)
