"""The real brain: a local llama.cpp model that answers with one grammar-constrained JSON object.

Every reply is `{"tool": <name>, "arguments": {...}}` or `{"say": "..."}`; a JSON-schema grammar built
from the session's tools makes each call valid JSON for a real tool. The prompt is ChatML rendered
here: tools block and few-shot turns first (stable, so llama.cpp's prefix cache survives instruction
changes), then the session instructions, then the conversation.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from local_realtime.brain import BrainOutput, Entry, FunctionCall, TextDelta, ToolSpec
from local_realtime.grammar import (
    GrammarSampler,
    allowed_replies,
    ground_ids,
    reply_schema,
    sanitize_schema,
    to_gbnf,
)

logger = logging.getLogger(__name__)

PARAM_NOTE_CHARS = 80  # a required parameter's description, cut to this
TOOL_NOTE_CHARS = 280  # a tool description, cut to this (the tools block is prefilled once, then cached);
# 240 cut load_script's catalogue before interview_prep's title, and "job interview" went to create_script
RESULT_MAX_CHARS = 1200  # tool output shown to the model; prefill runs at ~60 tok/s here
_FORMAT = (
    'Reply with ONE JSON object only: {"tool": "<name>", "arguments": {...}} to call a tool, or '
    '{"say": "<short spoken answer>"}. Call a tool only when the user asks for something a tool does; '
    "answer greetings, thanks, questions, jokes and small talk yourself with say. Never make up ids or "
    "names the user and the tools have not given. Spoken answers are "
    "heard, not read: one or two short sentences, no lists or markdown."
)
_AFTER_RESULT = "Tell the user the outcome in one or two short spoken sentences."
_EXAMPLES: list[tuple[str, str | None, dict[str, Any]]] = [
    ("I'd like to work on a blog post.", "load_script", {"script_name": "blog_writer"}),
    ("Could you open my shopping file?", "file_operation", {"operation": "read", "filename": "shopping.md"}),
    (
        "Create a file called ideas with the heading Ideas and a paragraph saying we need more plants.",
        "file_operation",
        {"operation": "create", "filename": "ideas.md", "content": "# Ideas\n\nWe need more plants."},
    ),
    ("Show me all my files.", "file_operation", {"operation": "list"}),
    (
        "Make a copy of report.md called old-report.md.",
        "file_operation",
        {"operation": "save_as", "filename": "report.md", "new_filename": "old-report.md"},
    ),
    ("Do we have anything in the library about climate change?", "search_library", {"query": "climate change"}),
    ("Okay, that part is done. Let's move on.", "next_stage", {}),
    ("What's the capital of France?", None, {"say": "The capital of France is Paris."}),
    ("Good morning!", None, {"say": "Good morning! What would you like to do today?"}),
]


class BrainUnavailable(RuntimeError):
    """llama-cpp-python is missing or the GGUF would not load; the message says what to do."""


def render_tools(tools: Sequence[ToolSpec]) -> str:
    """One short line per tool: `- name(param: "a"|"b", other?: integer): First sentence.`"""
    lines = []
    for tool in tools:
        schema = sanitize_schema(tool.parameters or {})
        required = set(schema.get("required", []))
        notes = (tool.parameters or {}).get("properties", {})
        params = [
            _render_param(n, s, n in required, notes.get(n, {}).get("description", ""))
            for n, s in schema.get("properties", {}).items()
        ]
        lines.append(f"- {tool.name}({', '.join(params)}): {_clip(tool.description, TOOL_NOTE_CHARS)}")
    return "\n".join(lines)


def pick_examples(tools: Sequence[ToolSpec]) -> list[tuple[str, dict[str, Any]]]:
    """Few-shot turns that only use tools (and argument values) valid in `tools`.

    Returns:
        list of (user text, reply object) in a fixed order, ending with spoken (say) examples.
    """
    by_name = {t.name: sanitize_schema(t.parameters) for t in tools}
    picked = []
    for text, name, args in _EXAMPLES:
        if name is None:
            picked.append((text, args))
        elif name in by_name and _fits(args, by_name[name]):
            picked.append((text, {"tool": name, "arguments": args}))
    return picked


def render_prompt(instructions: str, history: Sequence[Entry], tools: Sequence[ToolSpec]) -> str:
    """The whole ChatML prompt, ending where the assistant's JSON reply starts."""
    turns = "".join(_render_entry(e) for e in history)
    return render_prefix(tools, instructions) + turns + "<|im_start|>assistant\n"


def render_prefix(tools: Sequence[ToolSpec], instructions: str) -> str:
    """The stable part of the prompt: tools, few-shot turns, then the session instructions."""
    head = "You are the brain of a voice assistant. You can call these tools:\n"
    parts = [_turn("system", head + (render_tools(tools) or "(no tools)") + "\n\n" + _FORMAT)]
    for text, reply in pick_examples(tools):
        parts += [_turn("user", text), _turn("assistant", json.dumps(reply))]
    if instructions.strip():
        parts.append(_turn("system", "Session instructions:\n" + instructions.strip()))
    return "".join(parts)


class SayDecoder:
    """Follows the raw JSON reply as it streams and decodes the `say` string incrementally.

    `feed` returns the newly decoded characters of the say-string (empty while the reply is a tool
    call, or while an escape sequence is incomplete).
    """

    _KEY = re.compile(r'\s*\{\s*"(\w+)"\s*:\s*("?)')

    def __init__(self) -> None:
        self.raw = ""
        self.kind: str | None = None
        self._pos = 0  # next undecoded index into raw, inside the say string
        self._closed = False

    def feed(self, text: str) -> str:
        self.raw += text
        if self.kind is None:
            match = self._KEY.match(self.raw)
            if not match or (match.group(1) == "say" and not match.group(2)):
                return ""
            self.kind, self._pos = match.group(1), match.end()
        return self._decode() if self.kind == "say" else ""

    def _decode(self) -> str:
        out = []
        raw, i = self.raw, self._pos
        while i < len(raw) and not self._closed:
            char = raw[i]
            if char == '"':
                self._closed = True
                break
            if char != "\\":
                out.append(char)
                i += 1
                continue
            size = 6 if raw[i + 1 : i + 2] == "u" else 2
            if i + size > len(raw):
                break  # incomplete escape: wait for more text
            with contextlib.suppress(json.JSONDecodeError):  # the grammar forbids bad escapes
                out.append(json.loads(f'"{raw[i : i + size]}"'))
            i += size
        self._pos = i
        return "".join(out)


class LlamaBrain:
    """`Brain` backed by llama-cpp-python; one reply at a time (replies queue on a lock).

    Args:
        model_path: GGUF file (see `local_realtime.model.locate_model`).
        n_ctx: context window in tokens; older turns are dropped to fit.
        n_threads: CPU threads; default all cores.
        max_tokens: cap on one reply's tokens.
        prefill_chunk: prompt tokens evaluated between checks of `stop`.

    Raises:
        BrainUnavailable: llama-cpp-python is not installed or the model fails to load.
    """

    def __init__(
        self,
        model_path: Path,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        max_tokens: int = 512,
        prefill_chunk: int = 64,
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise BrainUnavailable("llama-cpp-python is not installed; run `pip install -e .[offline]`.") from exc
        threads = n_threads or os.cpu_count() or 1
        try:
            self._llm = Llama(
                model_path=str(model_path),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise BrainUnavailable(f"Could not load the model {model_path}: {exc}") from exc
        self._max_tokens = max_tokens
        self._chunk = prefill_chunk
        self._lock = threading.Lock()
        logger.info("Loaded %s (n_ctx=%d, %d threads)", model_path.name, n_ctx, threads)

    def warm(self, tools: Sequence[ToolSpec] = (), instructions: str = "") -> None:
        """Prefill the stable prompt prefix (and build the grammar) so the first reply is fast."""
        with self._lock:
            self._prefill(self._tokens(render_prefix(tools, instructions)), threading.Event())
        to_gbnf(json.dumps(reply_schema(tools, "auto")))

    def reply(
        self,
        instructions: str,
        history: list[Entry],
        tools: list[ToolSpec],
        tool_choice: str | dict[str, Any],
        stop: threading.Event,
    ) -> Iterator[BrainOutput]:
        """Yield the say-string as `TextDelta`s while it generates, or one `FunctionCall` at the end.

        Iterate to the end or `close()` the iterator: it holds the model until then.
        """
        while not self._lock.acquire(timeout=0.05):
            if stop.is_set():
                return
        try:
            yield from self._choose(instructions, history, tools, allowed_replies(history, tools, tool_choice), stop)
        finally:
            self._lock.release()

    def _choose(
        self, instructions: str, history: list[Entry], tools: list[ToolSpec], allow: str, stop: threading.Event
    ) -> Iterator[BrainOutput]:
        """Generate under the grammar; a call needing an id nobody said is replaced by the next best reply.

        The prompt stays the same (its cache too); only the grammar loses that tool, at most twice.
        """
        tokens = self._fit(instructions, history, tools)
        excluded: set[str] = set()
        while True:
            usable = [t for t in tools if t.name not in excluded]
            call = None
            for output in self._generate(tokens, to_gbnf(json.dumps(reply_schema(usable, allow))), stop):
                if isinstance(output, FunctionCall):
                    call = output
                else:
                    yield output
            if call is None:
                return
            arguments = json.loads(call.arguments)
            grounded = ground_ids(call.name, arguments, tools, history)
            if grounded is not None or allow not in ("auto", "tools") or len(excluded) >= 2:
                yield FunctionCall(call.name, json.dumps(grounded if grounded is not None else arguments))
                return
            logger.info("%s needs an id nobody said; choosing again without it", call.name)
            excluded.add(call.name)

    def _generate(self, tokens: list[int], gbnf: str, stop: threading.Event) -> Iterator[BrainOutput]:
        if not self._prefill(tokens[:-1], stop):
            return
        self._llm.eval(tokens[-1:])
        sampler = GrammarSampler(self._llm, gbnf)
        decoder, pending = SayDecoder(), b""
        try:
            for _ in range(self._max_tokens):
                if stop.is_set():
                    return
                token = sampler.pick()
                if sampler.is_end(token):
                    break
                sampler.accept(token)
                pending += self._llm.detokenize([token])
                with contextlib.suppress(UnicodeDecodeError):  # else a character split across tokens
                    text, pending = pending.decode("utf-8"), b""
                    if said := decoder.feed(text):
                        yield TextDelta(said)
                self._llm.eval([token])
            else:
                logger.warning("Reply cut at %d tokens", self._max_tokens)
        finally:
            sampler.close()
        if decoder.kind != "say" and not stop.is_set():
            yield from _to_call(decoder.raw)

    def _prefill(self, tokens: list[int], stop: threading.Event) -> bool:
        """Evaluate `tokens` after the longest cached prefix, in chunks; False if `stop` was set."""
        llm = self._llm
        cached = 0
        for a, b in zip(llm.input_ids[: llm.n_tokens], tokens, strict=False):
            if a != b:
                break
            cached += 1
        llm.n_tokens = cached  # llm.eval drops the KV cache past n_tokens
        logger.debug("Prompt %d tokens, %d from the cache", len(tokens), cached)
        for start in range(cached, len(tokens), self._chunk):
            if stop.is_set():
                return False
            llm.eval(tokens[start : start + self._chunk])
        return not stop.is_set()

    def _fit(self, instructions: str, history: list[Entry], tools: list[ToolSpec]) -> list[int]:
        """Tokens of the prompt, dropping the oldest turns until it leaves room for the reply."""
        budget = self._llm.n_ctx() - self._max_tokens
        start = 0
        while True:
            tokens = self._tokens(render_prompt(instructions, history[start:], tools))
            if len(tokens) <= budget or start >= len(history) - 1:
                return tokens[-budget:]
            start += 1

    def _tokens(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)


def _to_call(raw: str) -> Iterator[BrainOutput]:
    try:
        reply = json.loads(raw)
        yield FunctionCall(reply["tool"], json.dumps(reply["arguments"]))
    except (json.JSONDecodeError, KeyError, TypeError):
        logger.warning("Unusable model reply (%d chars)", len(raw))
        yield TextDelta("Sorry, I lost my train of thought. Could you say that again?")


def _render_param(name: str, schema: dict[str, Any], required: bool, description: str) -> str:
    if not required:
        label = name + "?"  # optional: name only, so a 13-parameter tool still fits one line
    elif description and "enum" not in schema:
        label = f"{name} ({_clip(description, PARAM_NOTE_CHARS)})"  # e.g. the valid script names
    else:
        label = name
    if "enum" in schema:
        return f"{label}: " + "|".join(json.dumps(v) for v in schema["enum"])
    if "properties" in schema:
        return f"{label}: {{{', '.join(schema['properties'])}}}"
    kind = schema.get("type")
    return f"{label}: {kind}" if isinstance(kind, str) and kind != "string" else label


def _clip(text: str, max_chars: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= max_chars else text[: text.rfind(" ", 0, max_chars)] + " ..."


def _fits(args: dict[str, Any], schema: dict[str, Any]) -> bool:
    props = schema.get("properties", {})
    if not set(schema.get("required", [])) <= set(args) or not set(args) <= set(props):
        return False
    return all("enum" not in props[k] or v in props[k]["enum"] for k, v in args.items())


def _render_entry(entry: Entry) -> str:
    if entry.role == "user":
        return _turn("user", entry.text)
    if entry.role == "assistant":
        return _turn("assistant", json.dumps({"say": entry.text}))
    if entry.role == "tool_call":
        try:
            args = json.loads(entry.text or "{}")
        except json.JSONDecodeError:
            args = entry.text
        return _turn("assistant", json.dumps({"tool": entry.name, "arguments": args}))
    output = entry.text if len(entry.text) <= RESULT_MAX_CHARS else entry.text[:RESULT_MAX_CHARS] + " ..."
    label = f' name="{entry.name}"' if entry.name else ""
    return _turn("user", f"<tool_response{label}>\n{output}\n</tool_response>\n{_AFTER_RESULT}")


def _turn(role: str, text: str) -> str:
    return f"<|im_start|>{role}\n{text}<|im_end|>\n"
