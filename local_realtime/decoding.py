"""Token by token under a grammar, faster: greedy decoding with drafts looked up in the prompt.

A small model's replies copy a lot from its prompt: JSON keys and tool names from the few-shot turns,
argument values from the user's words, facts from a tool result. `Decoder` looks for the last few
generated tokens earlier in the context and, when they occur, proposes the tokens that followed them
there as a draft. One batched evaluation checks the whole draft (llama.cpp scores a batch of 8 tokens
in about the time of 3 single ones on 2 cores); the grammar-constrained greedy choice at each position
keeps the draft's tokens while they agree and replaces the first that does not. Output is exactly what
plain greedy decoding gives, only sooner ("prompt lookup decoding", Saxena 2023).
"""

from __future__ import annotations

import contextlib
import ctypes
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np

MAX_DRAFT = 10
"""Most tokens proposed at once."""
FIRST_DRAFT = 4
"""Tokens proposed at first; the length grows while drafts are taken whole and shrinks when they are not
(on 2 cores a batch of 4 costs about 1.5 single evaluations, a batch of 8 about 3.3)."""
SHORTLIST = 20
"""Best tokens tried in order, when some may be refused, before the grammar filters the whole vocabulary."""
NGRAM_SIZES = (4, 3, 2)
"""Suffix lengths tried, longest first, when looking for a draft."""


class GrammarSampler:
    """Greedy token choice under a GBNF grammar for one reply.

    llama-cpp-python's sampler chain runs the grammar over all ~150k candidates for every token,
    which measured 1.3-8 tokens/s here instead of 34. Like llama.cpp's own `common_sampler`, this
    first checks only the model's top token against the grammar and falls back to the full
    candidate list when the grammar rejects it; greedy results are the same.

    Args:
        model: a loaded `llama_cpp.Llama`.
        gbnf: grammar text from `grammar.to_gbnf`.

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

    def pick(self, position: int = -1, rejects: Callable[[int], bool] | None = None) -> int:
        """The best token the grammar allows, from the logits at `position` of the last evaluated batch; one that
        `rejects` refuses only when the grammar allows nothing else."""
        pointer = self._lib.llama_get_logits_ith(self._model._ctx.ctx, position)
        logits = np.ctypeslib.as_array(pointer, shape=(self._n_vocab,))
        order = np.argsort(logits)[::-1][:SHORTLIST] if rejects is not None else [int(np.argmax(logits))]
        for token in (int(t) for t in order):
            if (rejects is None or not rejects(token)) and self._allows(token, float(logits[token])):
                return token
        self._all.copy_logits(logits)
        self._lib.llama_sampler_apply(self._sampler, ctypes.byref(self._all.candidates))
        data = self._all.candidates_data
        size = self._all.candidates.size
        ranked = np.argsort(data.logit[:size])[::-1]
        allowed = [int(data.id[i]) for i in ranked if np.isfinite(data.logit[i])]
        return next((t for t in allowed if rejects is None or not rejects(t)), allowed[0])

    def _allows(self, token: int, logit: float) -> bool:
        """Whether the grammar accepts `token` next."""
        self._one[0].id, self._one[0].logit, self._one[0].p = token, logit, 0.0
        self._one_array.size, self._one_array.selected = 1, -1
        self._lib.llama_sampler_apply(self._sampler, ctypes.byref(self._one_array))
        return bool(np.isfinite(self._one[0].logit))

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


def evaluate(model: Any, tokens: Sequence[int], all_logits: bool = False) -> None:
    """Evaluate `tokens` after the model's first `n_tokens` (dropping any cache past them).

    With `all_logits`, logits are kept for every position of the batch (for `GrammarSampler.pick(i)`),
    else only for the last. At most `n_batch` tokens.
    """
    past = model.n_tokens
    model._ctx.kv_cache_seq_rm(-1, past, -1)
    model._batch.set_batch(batch=list(tokens), n_past=past, logits_all=all_logits)
    model._ctx.decode(model._batch)
    model.input_ids[past : past + len(tokens)] = tokens
    model.n_tokens = past + len(tokens)


def find_draft(context: Sequence[int], limit: int = MAX_DRAFT) -> list[int]:
    """Tokens that followed the latest earlier occurrence of the context's last 4, 3 or 2 tokens.

    Returns:
        up to `limit` tokens, or [] when no suffix of those lengths occurred before.
    """
    array = np.asarray(context, dtype=np.int64)
    for size in NGRAM_SIZES:
        if len(array) <= size:
            continue
        suffix = array[-size:]
        windows = np.lib.stride_tricks.sliding_window_view(array[:-1], size)
        matches = np.flatnonzero((windows == suffix).all(axis=1))
        if len(matches):
            start = int(matches[-1]) + size
            return [int(t) for t in array[start : start + limit]]
    return []


class Decoder:
    """Greedy, grammar-constrained generation of one reply on a llama.cpp model, with prompt-lookup drafts.

    Args:
        model: a loaded `llama_cpp.Llama` whose cache holds the prompt (all of it with `ready`, else all but
            its last token).
        sampler: the grammar for this reply.
        context: the whole prompt's tokens (the last one not yet evaluated).
        cpu: held around each evaluation (the engine's `CpuTurns`); default: nothing.
        ready: the cache holds the whole prompt and the model's logits are those after its last token (the
            first token is picked without an evaluation); else the last token is evaluated first.
        rejects: given the tokens generated so far and a candidate, whether to avoid it (see `repeats.py`).
    """

    def __init__(
        self,
        model: Any,
        sampler: GrammarSampler,
        context: Sequence[int],
        cpu: AbstractContextManager[Any] | None = None,
        ready: bool = False,
        rejects: Callable[[Sequence[int], int], bool] | None = None,
    ) -> None:
        self._model = model
        self._rejects = rejects
        self._start = len(context)
        self._ready = ready
        self._cpu = cpu or contextlib.nullcontext()
        self._sampler = sampler
        self._context = list(context)
        self.drafted = 0
        """Draft tokens proposed so far."""
        self.accepted = 0
        """Draft tokens that matched the greedy choice (each one a saved evaluation)."""
        self._limit = FIRST_DRAFT

    def _refuses(self) -> Callable[[int], bool] | None:
        if self._rejects is None:
            return None
        generated, rejects = self._context[self._start :], self._rejects
        return lambda token: rejects(generated, token)

    def tokens(self) -> Iterator[int]:
        """Yield the reply's tokens in order; ends at an end-of-generation token (not yielded).

        The caller may stop iterating at any time; every token yielded has been accepted by the grammar,
        and every token yielded but the last has been evaluated.
        """
        pending: int | None = None if self._ready else self._context[-1]  # the next token to evaluate
        while True:
            if pending is None:  # ready: the first token comes from the prompt's own logits
                draft = []
            else:
                draft = find_draft(self._context, self._limit)
                with self._cpu:
                    evaluate(self._model, [pending, *draft], all_logits=bool(draft))
            self.drafted += len(draft)
            for position in range(len(draft) + 1):
                token = self._sampler.pick(position if draft else -1, self._refuses())
                if self._sampler.is_end(token):
                    return
                self._sampler.accept(token)
                self._context.append(token)
                if position < len(draft) and token == draft[position]:
                    self.accepted += 1
                    yield token
                    continue
                # the first token that differs from the draft (or follows all of it) is evaluated next;
                # the batch's later positions are stale, so the cache keeps this position's prefix only
                self._model.n_tokens -= len(draft) - position
                if draft:
                    self._limit = min(MAX_DRAFT, self._limit + 3) if position == len(draft) else max(2, position + 1)
                pending = token
                yield token
                break
