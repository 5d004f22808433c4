"""The real brain: a local llama.cpp model that answers with one grammar-constrained JSON object.

The reply format and prompt are in `prompt.py`; a JSON-schema grammar built from the session's tools
makes each call valid JSON for a real tool; `decoding.Decoder` generates under it with prompt-lookup
drafts; the evaluated prompt is reused from llama.cpp's cache between turns and, for the tools block,
from `prompt_cache` on disk between processes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from local_realtime.brain import BrainOutput, Entry, FunctionCall, TextDelta, ToolSpec, pending_question, words
from local_realtime.cpu import CpuTurns
from local_realtime.decoding import Decoder, GrammarSampler
from local_realtime.few_shot import Example
from local_realtime.grammar import allowed_replies, ground_ids, reply_schema, to_gbnf
from local_realtime.prompt import ReplyReader, render_prefix, render_prompt
from local_realtime.prompt_cache import PromptCache
from local_realtime.reply_shape import ReplyShape

logger = logging.getLogger(__name__)
FALLBACK_REPLY = "Sorry, I lost my train of thought. Could you say that again?"
"""Said instead of a tool call the model left unusable (cut off, or without its arguments)."""


class BrainUnavailable(RuntimeError):
    """llama-cpp-python is missing or the GGUF would not load; the message says what to do."""


class LlamaBrain:
    """`Brain` backed by llama-cpp-python; one reply at a time (replies queue on a lock).

    Args:
        model_path: GGUF file (see `local_realtime.model.locate_model`).
        few_shot: worked turns shown in every prompt after the tools (see `few_shot.py`); those using a tool
            the session lacks are left out.
        n_ctx: context window in tokens; older turns are dropped to fit.
        n_threads: CPU threads; default all cores.
        max_tokens: cap on one reply's tokens.
        prefill_chunk: prompt tokens evaluated at a time (between checks of `stop`, one turn on the CPU)
            when preparing a prompt in the background, so a transcription waits at most ~0.6 s for it.
        reply_chunk: the same for a reply's own prompt (a tool result): 128 tokens evaluate at 58 tokens/s
            here, 32 at 51 (each evaluation reads all the weights once).
        cache_dir: where evaluated prompt prefixes are kept between processes (None: not kept).
        cpu: taken for every evaluation batch, shared with the engine's other models (see `cpu.py`).

    Raises:
        BrainUnavailable: llama-cpp-python is not installed or the model fails to load.
    """

    def __init__(
        self,
        model_path: Path,
        few_shot: Sequence[Example],
        n_ctx: int = 8192,
        n_threads: int | None = None,
        max_tokens: int = 512,
        prefill_chunk: int = 32,
        reply_chunk: int = 128,
        cache_dir: Path | None = None,
        cpu: CpuTurns | None = None,
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
        self._examples = tuple(few_shot)
        self._max_tokens = max_tokens
        self._chunk = prefill_chunk
        self._reply_chunk = reply_chunk
        self._logits_at = -1  # the cache position whose next-token logits the model holds (-1: none)
        self._cpu = cpu or CpuTurns()
        self._lock = threading.Lock()
        model_id = f"{model_path.name}:{model_path.stat().st_size}:{n_ctx}"
        self._cache = PromptCache(cache_dir, model_id) if cache_dir is not None else None
        logger.info("Loaded %s (n_ctx=%d, %d threads)", model_path.name, n_ctx, threads)

    def warm(self, tools: Sequence[ToolSpec] = (), instructions: str = "") -> None:
        """Have the stable prompt prefix evaluated (from the disk cache when it has it) and the grammar built."""
        with self._lock:
            tokens = self._tokens(render_prefix(tools, instructions, self._examples))
            self._logits_at = -1  # a restored state has no logits; a reply evaluates its last token again
            if self._cached(tokens) < len(tokens) and not (self._cache and self._cache.restore(self._llm, tokens)):
                self._prefill(tokens, threading.Event(), self._reply_chunk)
                if self._cache is not None:
                    self._cache.save(self._llm, tokens)
        to_gbnf(json.dumps(reply_schema(tools, "auto")))

    def prepare(self, instructions: str, history: list[Entry], tools: list[ToolSpec], stop: threading.Event) -> None:
        """Evaluate the prompt a reply to `history` would start from, so that reply starts at once.

        Used while the user may still be speaking (their words so far are the last entry): work that turns
        out wrong is only overwritten. When `history` does not end with the user's words (the assistant has
        answered and the user listens), the prompt is evaluated up to where their next turn will begin: in a
        script that includes the coach's note on the stage (~100 tokens, 2 s here), which would otherwise wait
        for the transcript. Returns early when `stop` is set or another reply holds the model.
        """
        if not self._lock.acquire(blocking=False):
            return
        try:
            if history and history[-1].role == "user":
                tokens = self._fit(instructions, history, tools)
            else:
                tokens = self._before_user(self._fit(instructions, [*history, Entry("user", "")], tools))
            self._prefill(tokens, stop, self._chunk)
        finally:
            self._lock.release()

    def _before_user(self, tokens: list[int]) -> list[int]:
        """`tokens` up to the start of the last user turn (its `<|im_start|>user` tokens, a token boundary)."""
        marker = self._tokens("<|im_start|>user")
        for start in range(len(tokens) - len(marker), -1, -1):
            if tokens[start : start + len(marker)] == marker:
                return tokens[:start]
        return tokens

    def reply(
        self,
        instructions: str,
        history: list[Entry],
        tools: list[ToolSpec],
        tool_choice: str | dict[str, Any],
        stop: threading.Event,
    ) -> Iterator[BrainOutput]:
        """Yield the spoken text as `TextDelta`s while it generates (the answer, or the preamble of a tool
        call), then a `FunctionCall` at the end of a call.

        Iterate to the end or `close()` the iterator: it holds the model until then. A held call's question
        (`pending_question`) is said as it is, without the model.
        """
        if (question := pending_question(history)) is not None:
            yield from words(question, stop)
            return
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
        """Generate under the grammar, in the reply's shape (`reply_shape.py`); a call needing an id nobody said, or
        loading the running script again, is replaced by the next best reply.

        The prompt stays the same (its cache too); only the grammar loses that tool, at most twice.
        """
        shape = ReplyShape.of(history)
        tokens = self._fit(instructions, history + ([Entry("note", shape.tail)] if shape.tail else []), tools)
        if shape.must_call and allow == "auto":
            allow = "tools"
        excluded: set[str] = set()
        while True:
            usable = [t for t in shape.usable(tools) if t.name not in excluded]
            call, held = None, []
            gbnf = to_gbnf(json.dumps(reply_schema(usable, allow, shape.spoken)))
            reader = ReplyReader(shape.speak)
            for output in self._generate(tokens, gbnf, reader, stop, shape.rejects):
                if isinstance(output, FunctionCall):
                    call = output
                elif reader.tool is not None and shape.may_refuse(reader.tool):
                    held.append(output)  # its few words wait: the call may be replaced, and they with it
                else:
                    yield output
            if call is None:
                yield from held
                return
            arguments = shape.settle(call.name, json.loads(call.arguments), tools, history)
            grounded = ground_ids(call.name, arguments, tools, history) if arguments is not None else None
            if grounded is not None or allow not in ("auto", "tools") or len(excluded) >= 2:
                yield from held
                yield FunctionCall(call.name, json.dumps(grounded or arguments or json.loads(call.arguments)))
                return
            why = "loads the running script again" if arguments is None else "needs an id nobody said"
            logger.info("%s %s; choosing again without it", call.name, why)
            excluded.add(call.name)

    def _generate(
        self,
        tokens: list[int],
        gbnf: str,
        reader: ReplyReader,
        stop: threading.Event,
        rejects: Callable[[str, str], bool] | None = None,
    ) -> Iterator[BrainOutput]:
        started = time.perf_counter()
        if not self._prefill(tokens, stop, self._reply_chunk):
            return
        sampler = GrammarSampler(self._llm, gbnf)
        refuses = None
        if rejects is not None:

            def refuses(generated: Sequence[int], token: int) -> bool:
                text = self._llm.detokenize(list(generated)).decode("utf-8", errors="ignore")
                return rejects(text, self._llm.detokenize([token]).decode("utf-8", errors="ignore"))

        decoder = Decoder(self._llm, sampler, tokens, self._cpu, ready=True, rejects=refuses)
        self._logits_at = -1  # the decoder evaluates other positions from here on
        pending, count, first_s = b"", 0, None
        try:
            for token in decoder.tokens():
                if stop.is_set():
                    return
                count += 1
                first_s = first_s or time.perf_counter() - started
                pending += self._llm.detokenize([token])
                with contextlib.suppress(UnicodeDecodeError):  # else a character split across tokens
                    text, pending = pending.decode("utf-8"), b""
                    was_open = not reader.said_all
                    said = reader.feed(text)
                    if said or (was_open and reader.said_all):
                        yield TextDelta(said, last=reader.said_all)
                    if reader.complete:
                        break
                if count >= self._max_tokens:
                    logger.warning("Reply cut at %d tokens", self._max_tokens)
                    break
        finally:
            sampler.close()
        logger.debug(
            "Reply: %d tokens in %.2f s (first after %.2f s), %d of %d drafted tokens kept",
            count,
            time.perf_counter() - started,
            first_s or 0.0,
            decoder.accepted,
            decoder.drafted,
        )
        if not stop.is_set() and "tool" in reader.value:
            yield from _to_call(reader)

    def _cached(self, tokens: Sequence[int]) -> int:
        """How many leading `tokens` the model's cache already holds."""
        return self._llm.longest_token_prefix(self._llm.input_ids[: self._llm.n_tokens], tokens)

    def _prefill(self, tokens: list[int], stop: threading.Event, chunk: int) -> bool:
        """Evaluate `tokens` after the longest cached prefix, `chunk` at a time, ending with the logits after
        the last token, so a reply's first token is picked at once (one evaluation less on the way to the
        first word than evaluating the last token with the first draft: 0.2-0.3 s here). False if `stop` was set.
        """
        llm = self._llm
        cached = self._cached(tokens)
        if cached == len(tokens) and self._logits_at != cached:
            cached -= 1  # all cached, but the logits are another position's: evaluate the last token again
        llm.n_tokens = cached  # llm.eval drops the KV cache past n_tokens
        started = time.perf_counter()
        for start in range(cached, len(tokens), chunk):
            if stop.is_set():
                return False
            with self._cpu:
                llm.eval(tokens[start : start + chunk])
            self._logits_at = llm.n_tokens
        if len(tokens) > cached:
            logger.debug(
                "Prefilled %d tokens (%d cached) in %.2f s", len(tokens) - cached, cached, time.perf_counter() - started
            )
        return not stop.is_set()

    def _fit(self, instructions: str, history: list[Entry], tools: list[ToolSpec]) -> list[int]:
        """Tokens of the prompt, dropping the oldest turns until it leaves room for the reply.

        Instructions dropped with old turns are not lost: the latest of them becomes the first instructions.
        """
        budget = self._llm.n_ctx() - self._max_tokens
        start = 0
        while True:
            tokens = self._tokens(render_prompt(instructions, history[start:], tools, self._examples))
            if len(tokens) <= budget or start >= len(history) - 1:
                return tokens[-budget:]
            if history[start].role == "system":
                instructions = history[start].text
            start += 1

    def _tokens(self, text: str) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)


def _to_call(reader: ReplyReader) -> Iterator[BrainOutput]:
    value = reader.value
    if reader.complete and isinstance(value.get("tool"), str) and isinstance(value.get("arguments"), dict):
        yield FunctionCall(value["tool"], json.dumps(value["arguments"], ensure_ascii=False))
        return
    logger.warning("Unusable model reply (%d chars)", len(reader.raw))
    yield TextDelta(FALLBACK_REPLY)
