"""How search turns rankings of chunks into cited passages: rank fusion, distinct hits, widened context.

Chunks are small (128 word-pieces) so that a match is precise; each hit is then widened with its neighbours'
text, about as long as a 256-token chunk, so the answer's surroundings come with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from mcp_server.library.citations import MAX_PASSAGE_CHARS, SearchHit, cut_at_word
from mcp_server.library.passages import Passage
from mcp_server.library.sources import source_of

RRF_K = 60
"""Reciprocal rank fusion constant: a chunk at rank r of a ranking earns weight / (RRF_K + r)."""
CONTEXT_CHARS = 300
"""Characters of surrounding text added on each side of a matched chunk (snapped to word boundaries)."""


def fuse(rankings: Iterable[tuple[Sequence[str], float]], k: int = RRF_K) -> dict[str, float]:
    """Reciprocal rank fusion of (ids best first, weight) rankings.

    Returns:
        every id once -> its fused score, the sum of weight / (k + rank) over the rankings that hold it
        (rank from 0); best first (highest score), ties in first-seen order.
    """
    fused: dict[str, float] = {}
    for ranking, weight in rankings:
        for rank, chunk_id in enumerate(ranking):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return dict(sorted(fused.items(), key=lambda item: item[1], reverse=True))


def distinct(passages: Iterable[Passage], top_k: int) -> list[Passage]:
    """The first `top_k` passages that do not overlap an earlier pick in the same document, in order."""
    picked: list[Passage] = []
    for passage in passages:
        if not any(
            p.document_id == passage.document_id and passage.char_start < p.char_end and p.char_start < passage.char_end
            for p in picked
        ):
            picked.append(passage)
            if len(picked) == top_k:
                break
    return picked


def widen(core: Passage, before: Passage | None, after: Passage | None, context_chars: int = CONTEXT_CHARS) -> Passage:
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
    return Passage(core.document_id, core.index, start, end, text, core.heading)


def neighbour_ids(chunk_id: str) -> tuple[str, str]:
    """Ids of the chunks before and after `chunk_id` ("<document id>::<index>") in its document."""
    document_id, index = chunk_id.rsplit("::", 1)
    return f"{document_id}::{int(index) - 1}", f"{document_id}::{int(index) + 1}"


def stored_passage(chunk_id: str, text: str, meta: dict[str, Any]) -> Passage:
    """The stored chunk `chunk_id` (its text and Chroma metadata) as a `Passage`."""
    index = int(chunk_id.rsplit("::", 1)[1])
    start, end = int(meta["char_start"]), int(meta["char_end"])
    return Passage(str(meta["document_id"]), index, start, end, text, str(meta["heading"]))


def cite(passage: Passage, title: str, score: float) -> SearchHit:
    """A search result citing `passage` (its text trimmed to `MAX_PASSAGE_CHARS`) of document `title`,
    with its fused `score` (see `fuse`)."""
    return SearchHit(
        document_id=passage.document_id,
        title=title,
        heading=passage.heading,
        score=round(score, 5),
        passage=cut_at_word(passage.text, MAX_PASSAGE_CHARS),
        char_start=passage.char_start,
        char_end=passage.char_end,
        source=source_of(passage.document_id),
    )


def _after_first_space(text: str) -> str:
    """`text` from its first whole word (a partial word at the start is dropped)."""
    cut = next((i for i, c in enumerate(text) if c.isspace()), len(text))
    return text[cut:].lstrip()


def _before_last_space(text: str) -> str:
    """`text` up to its last whole word (a partial word at the end is dropped)."""
    cut = next((i for i in range(len(text) - 1, -1, -1) if text[i].isspace()), 0)
    return text[:cut].rstrip()
