"""The brain's prompt and reply format: ChatML with tools and few-shot turns, and reading the JSON reply.

Every reply is one JSON object: `{"say": "..."}` to answer, or `{"tool": <name>, "say": <a few words
for the user while it runs>, "arguments": {...}}` to call a tool (the spoken preamble gpt-realtime gives
before a tool call). The prompt is built so llama.cpp's prefix cache survives a conversation: the tools
block and few-shot turns first, then the session's first instructions, then the turns in order, with
later instruction changes as system turns where they happened, so nothing before them is re-evaluated.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import Any

from pydantic_core import from_json

from local_realtime.brain import Entry, ToolSpec
from local_realtime.coaching import annotate
from local_realtime.few_shot import Example
from local_realtime.grammar import sanitize_schema

PARAM_NOTE_CHARS = 80  # a required parameter's description, cut to this
TOOL_NOTE_CHARS = 420  # a tool's first sentence, cut to this: every token of the prefix slows every later
# token (attention), and a catalogue (of scripts, of documents) in a tool's first sentence is kept
RESULT_MAX_CHARS = 1200  # tool output shown to the model; prefill runs at ~70 tok/s here
FORMAT = (
    'Reply with ONE JSON object only. To call a tool: {"tool": "<name>", "say": "<a few words telling the '
    'user what you are doing>", "arguments": {...}}. To answer yourself: {"say": "<short spoken answer>"}. '
    "Call a tool when the user asks for something a tool does. Facts about the user's own documents, notes, "
    "files, plans and lists come only from tools, never from memory: when they ask about their own things, "
    "or about anything a listed document covers, search; when unsure, search. A question with we, our, my or "
    "I, or about something of this user's (the rent, the dough, the next meeting, the savings), is about their "
    "own things. Answer greetings, thanks, jokes, small talk and general knowledge yourself with say. Never make "
    "up ids or names the user and the tools have not given. After a tool result, answer the user's question "
    "from it alone: say its numbers, units and names exactly as written and name the document; if it does not "
    "answer the question, say you found nothing about it. Spoken answers are heard, not read: one or two "
    "short sentences, no lists or markdown."
)
AFTER_QUESTION = (
    'Answer "{question}" in one short sentence from this result; if it has nothing on it, say so, and for general '
    "knowledge add what you know."
)
"""Follows a tool result when the user asked a question: the question again, right where the answer starts."""
AFTER_REQUEST = "Say in one short sentence what you did, with the facts it gives."
"""Follows a tool result when the user asked for something: quoting the request here made the model repeat it
(or say it found nothing) instead of telling the outcome, and go on doing so for the rest of the conversation."""
_QUESTION_WORD = re.compile(r"\b(what|how|when|where|who|which|why|whether)\b", re.IGNORECASE)
"""A request with one of these asks for facts too: "search my library for what to do about slugs"."""


def render_tools(tools: Sequence[ToolSpec]) -> str:
    """One short line per tool: `- name(param: "a"|"b", other?: integer): First sentence of its description.`"""
    lines = []
    for tool in tools:
        schema = sanitize_schema(tool.parameters or {})
        required = set(schema.get("required", []))
        notes = (tool.parameters or {}).get("properties", {})
        params = [
            _render_param(n, s, n in required, notes.get(n, {}).get("description", ""))
            for n, s in schema.get("properties", {}).items()
        ]
        lines.append(f"- {tool.name}({', '.join(params)}): {clip(first_sentence(tool.description), TOOL_NOTE_CHARS)}")
    return "\n".join(lines)


def pick_examples(tools: Sequence[ToolSpec], examples: Sequence[Example]) -> list[Entry]:
    """The `examples` that only use tools (and argument values) valid in `tools`, in order, as conversation
    entries: user, assistant (the answer or a call's preamble), then for a call tool_call and, when the
    example has a result, tool_result and assistant (the answer from it)."""
    by_name = {t.name: sanitize_schema(t.parameters) for t in tools}
    entries: list[Entry] = []
    for example in examples:
        turn = [Entry("user", example.user), Entry("assistant", example.say)]
        if example.feedback is not None:
            turn[1] = Entry("assistant", example.feedback.model_dump_json(), "json")
        elif example.ideas is not None:
            turn[1] = Entry("assistant", json.dumps({"ideas": example.ideas}, ensure_ascii=False), "json")
        elif example.ask is not None:
            turn[1] = Entry(
                "assistant",
                json.dumps(
                    {"heard": example.heard, "ask": example.ask}
                    if example.heard is not None
                    else {"say": example.say, "ask": example.ask},
                    ensure_ascii=False,
                ),
                "json",
            )
        if example.tool is None:
            entries += turn
        elif example.tool in by_name and _fits(example.arguments, by_name[example.tool]):
            entries += [*turn, Entry("tool_call", json.dumps(example.arguments), example.tool)]
            if example.result is not None:
                answer = Entry("assistant", example.answer or "")
                entries += [Entry("tool_result", example.result, example.tool), answer]
    return entries


def render_prefix(tools: Sequence[ToolSpec], instructions: str, examples: Sequence[Example]) -> str:
    """The stable part of the prompt: tools, the few-shot `examples` that fit them, then the session's first
    instructions."""
    head = "You are the brain of a voice assistant. You can call these tools:\n"
    prefix = _turn("system", head + (render_tools(tools) or "(no tools)") + "\n\n" + FORMAT)
    prefix += render_turns(pick_examples(tools, examples))
    if instructions.strip():
        prefix += _turn("system", "Session instructions:\n" + instructions.strip())
    return prefix


def render_prompt(
    instructions: str, history: Sequence[Entry], tools: Sequence[ToolSpec], examples: Sequence[Example]
) -> str:
    """The whole ChatML prompt, ending where the assistant's JSON reply starts; in a script's stage the turns
    carry the coach's notes (`coaching.annotate`)."""
    return render_prefix(tools, instructions, examples) + render_turns(annotate(history)) + "<|im_start|>assistant\n"


def render_turns(history: Sequence[Entry]) -> str:
    """Conversation entries as ChatML turns; a spoken preamble and the call after it form one reply.

    Instructions changed by a tool call on a request (a system entry after a call in the same turn: a script
    loaded or moved on) are rendered after that turn's answer, or before the next user turn if it had none.
    The answer tells the outcome from the tool result without first evaluating a few hundred tokens of new
    instructions (5-6 s here); those are evaluated after it, while the user listens (the engine prepares the
    next prompt when a response ends), and coach the turns that follow. After a question they stay where
    they happened: from a script's result alone the model invented an answer to a question the wrong tool
    was called for.
    """
    out: list[str] = []
    held: list[str] = []
    skip = False
    question = ""
    in_tool_turn = False
    for index, entry in enumerate(history):
        if skip:
            skip = False
            continue
        following = history[index + 1] if index + 1 < len(history) else None
        if entry.role == "assistant" and following is not None and following.role == "tool_call":
            out.append(_call_turn(following, entry.text))
            skip = in_tool_turn = True
        elif entry.role == "tool_call":
            out.append(_call_turn(entry, None))
            in_tool_turn = True
        elif entry.role == "assistant":
            reply = entry.text if entry.name == "json" else json.dumps({"say": entry.text}, ensure_ascii=False)
            out += [_turn("assistant", reply), *held]
            held, in_tool_turn = [], False
        elif entry.role == "system":
            (held if in_tool_turn and not asks(question) else out).append(
                _turn("system", "Session instructions from now on:\n" + entry.text.strip())
            )
        elif entry.role == "user":
            out += [*held, _turn("user", entry.text)]
            held, in_tool_turn, question = [], False, entry.text
        elif entry.role == "note":
            out.append(_turn("system", entry.text))
        else:
            noted = following is not None and following.role == "note"  # the note says what to do next
            out.append(_result_turn(entry, None if noted else question))
    return "".join(out)


Speak = Callable[[dict[str, Any], dict[str, Any]], str]
"""The spoken text of a reply so far from its JSON value (strings partly decoded) and its closed fields; it must
only grow as more is decoded (see `coaching.speaker`)."""


def say_only(partial: dict[str, Any], closed: dict[str, Any]) -> str:
    """The default `Speak`: the `say` string as far as it is decoded."""
    said = partial.get("say")
    return said if isinstance(said, str) else ""


class ReplyReader:
    """Follows the reply's JSON as it streams: the spoken text so far, the tool, and whether it is complete.

    `feed` returns the newly decoded spoken characters: a call's `say` preamble, or what `speak` makes of an
    answer's fields (by default its `say`); partial escapes wait for their next token.
    """

    def __init__(self, speak: Speak = say_only) -> None:
        self.raw = ""
        self.value: dict[str, Any] = {}
        self._speak = speak
        self._said = 0
        self.said_all = False
        """True once everything to be spoken was returned (a call's preamble closed, or the answer complete)."""

    def feed(self, text: str) -> str:
        self.raw += text
        try:
            value = from_json(self.raw, allow_partial="trailing-strings")
        except ValueError:
            return ""
        self.value = value if isinstance(value, dict) else {}
        closed = self._closed()
        if "tool" in self.value:
            said, done = say_only(self.value, closed), "say" in closed
        else:
            said, done = self._speak(self.value, closed), self.complete
        if done:
            self.said_all = True
        if len(said) <= self._said:
            return ""
        new, self._said = said[self._said :], len(said)
        return new

    def _closed(self) -> dict[str, Any]:
        """The fields whose values are complete (trailing strings dropped unless closed)."""
        try:
            complete = from_json(self.raw, allow_partial=True)
        except ValueError:
            return {}
        return complete if isinstance(complete, dict) else {}

    @property
    def tool(self) -> str | None:
        """The tool's name once it is complete (its closing quote seen), else None."""
        name = self.value.get("tool")
        return name if isinstance(name, str) and ("say" in self.value or "arguments" in self.value) else None

    @property
    def complete(self) -> bool:
        """True once the JSON object is closed (nothing after it can matter)."""
        try:
            from_json(self.raw)
        except ValueError:
            return False
        return True


def asks(text: str) -> bool:
    """Whether the user's `text` asks for facts: it ends with "?" or has a question word."""
    return text.rstrip().endswith("?") or _QUESTION_WORD.search(text) is not None


def first_sentence(text: str) -> str:
    """The first sentence of `text` (up to a ". " or ".\n" after 20 characters; all of it if there is none)."""
    text = " ".join(text.split())
    end = re.search(r"(?<=.{20})(?<!\.)\.(?:\s|$)", text)  # not an ellipsis ("Yes, And... Improv Game")
    return text[: end.start() + 1] if end else text


def clip(text: str, max_chars: int) -> str:
    """`text` on one line, cut at a word boundary to at most about `max_chars` (with " ...")."""
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: text.rfind(" ", 0, max_chars)] + " ..."


def _render_param(name: str, schema: dict[str, Any], required: bool, description: str) -> str:
    if not required:
        label = name + "?"  # optional: name only, so a 13-parameter tool still fits one line
    elif description and "enum" not in schema:
        label = f"{name} ({clip(description, PARAM_NOTE_CHARS)})"  # e.g. the valid script names
    else:
        label = name
    if "enum" in schema:
        return f"{label}: " + "|".join(json.dumps(v) for v in schema["enum"])
    if "properties" in schema:
        return f"{label}: {{{', '.join(schema['properties'])}}}"
    kind = schema.get("type")
    return f"{label}: {kind}" if isinstance(kind, str) and kind != "string" else label


def _fits(args: dict[str, Any], schema: dict[str, Any]) -> bool:
    props = schema.get("properties", {})
    if not set(schema.get("required", [])) <= set(args) or not set(args) <= set(props):
        return False
    return all("enum" not in props[k] or v in props[k]["enum"] for k, v in args.items())


def _call_turn(call: Entry, preamble: str | None) -> str:
    try:
        args = json.loads(call.text or "{}")
    except json.JSONDecodeError:
        args = call.text
    reply: dict[str, Any] = {"tool": call.name}
    if preamble is not None:
        reply["say"] = preamble
    reply["arguments"] = args
    return _turn("assistant", json.dumps(reply, ensure_ascii=False))


def _result_turn(entry: Entry, question: str | None) -> str:
    """A tool result as a user turn, and after it what to say (None: nothing, a note follows)."""
    output = entry.text if len(entry.text) <= RESULT_MAX_CHARS else entry.text[:RESULT_MAX_CHARS] + " ..."
    label = f' name="{entry.name}"' if entry.name else ""
    if question is None:
        ask = ""
    else:
        ask = "\n" + (AFTER_QUESTION.format(question=clip(question, 160)) if asks(question) else AFTER_REQUEST)
    return _turn("user", f"<tool_response{label}>\n{output}\n</tool_response>{ask}")


def _turn(role: str, text: str) -> str:
    return f"<|im_start|>{role}\n{text}<|im_end|>\n"
