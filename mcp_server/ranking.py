"""How search turns two rankings of chunks into cited passages: rank fusion, distinct hits, widened context.

Chunks are small (128 word-pieces) so that a match is precise; each hit is then widened with its neighbours'
text, about as long as a 256-token chunk, so the answer's surroundings come with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from mcp_server.citations import MAX_PASSAGE_CHARS, Hit, cut_at_word
from mcp_server.sources import source_of

RRF_K = 60
"""Reciprocal rank fusion constant: a chunk at rank r of a ranking earns weight / (RRF_K + r)."""
CONTEXT_CHARS = 300
"""Characters of surrounding text added on each side of a matched chunk (snapped to word boundaries)."""


@dataclass(frozen=True)
class Span:
    """A stored chunk: where it lies in its document's parsed text, and that text."""

    document_id: str
    index: int
    """Position of the chunk in its document, from 0."""
    char_start: int
    char_end: int
    text: str

    @property
    def chunk_id(self) -> str:
        """The chunk's id in the store: "<document id>::<index>"."""
        return f"{self.document_id}::{self.index}"


def fuse(rankings: Iterable[tuple[Sequence[str], float]], k: int = RRF_K) -> list[str]:
    """Reciprocal rank fusion of (ids best first, weight) rankings; returns every id once, best first."""
    fused: dict[str, float] = {}
    for ranking, weight in rankings:
        for rank, chunk_id in enumerate(ranking):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(fused, key=fused.__getitem__, reverse=True)


def distinct(spans: Iterable[Span], top_k: int) -> list[Span]:
    """The first `top_k` spans that do not overlap an earlier pick in the same document, in order."""
    picked: list[Span] = []
    for span in spans:
        if not any(
            p.document_id == span.document_id and span.char_start < p.char_end and p.char_start < span.char_end
            for p in picked
        ):
            picked.append(span)
            if len(picked) == top_k:
                break
    return picked


def widen(core: Span, before: Span | None, after: Span | None, context_chars: int = CONTEXT_CHARS) -> Span:
    """`core` with up to `context_chars` of its neighbours' text on each side, cut at whole words.

    A neighbour adds text only if it touches or overlaps `core` (chunks of one markdown section do; chunks of
    two sections do not, so a hit never spills into the next section). Offsets stay exact.
    """
    start, text, end = core.char_start, core.text, core.char_end
    if before is not None and before.char_start < start <= before.char_end:
        lead = before.text[max(0, start - context_chars - before.char_start) : start - before.char_start]
        if start - context_chars > before.char_start:
            lead = _after_first_space(lead)
        start, text = start - len(lead), lead + text
    if after is not None and after.char_start <= end < after.char_end:
        tail = after.text[end - after.char_start : end + context_chars - after.char_start]
        if end + context_chars < after.char_end:
            tail = _before_last_space(tail)
        end, text = end + len(tail), text + tail
    return Span(core.document_id, core.index, start, end, text)


def neighbour_ids(chunk_id: str) -> tuple[str, str]:
    """Ids of the chunks before and after `chunk_id` ("<document id>::<index>") in its document."""
    document_id, index = chunk_id.rsplit("::", 1)
    return f"{document_id}::{int(index) - 1}", f"{document_id}::{int(index) + 1}"


def stored_span(chunk_id: str, text: str, meta: dict[str, Any]) -> Span:
    """The stored chunk `chunk_id` (its text and Chroma metadata) as a `Span`."""
    index = int(chunk_id.rsplit("::", 1)[1])
    return Span(str(meta["document_id"]), index, int(meta["char_start"]), int(meta["char_end"]), text)


def cite(span: Span, meta: dict[str, Any], score: float) -> Hit:
    """A search result citing `span` (its passage trimmed to `MAX_PASSAGE_CHARS`), scored `score`."""
    return Hit(
        document_id=span.document_id,
        title=str(meta["title"]),
        heading=str(meta["heading"]),
        score=round(score, 4),
        passage=cut_at_word(span.text, MAX_PASSAGE_CHARS),
        char_start=span.char_start,
        char_end=span.char_end,
        source=source_of(span.document_id),
    )


def _after_first_space(text: str) -> str:
    """`text` from its first whole word (a partial word at the start is dropped)."""
    cut = next((i for i, c in enumerate(text) if c.isspace()), len(text))
    return text[cut:].lstrip()


def _before_last_space(text: str) -> str:
    """`text` up to its last whole word (a partial word at the end is dropped)."""
    cut = next((i for i in range(len(text) - 1, -1, -1) if text[i].isspace()), 0)
    return text[:cut].rstrip()
