"""Passages: stretches of a document's parsed text; a document cut into the passages the index stores, and
a text's sentences.

"Passage" is the one word for a stretch of text. The index stores each document as overlapping passages
short enough for the embedding model to read whole, its *chunks* (the word the index's counts, ids and
Chroma collection keep); search widens a matched chunk into a longer passage (`ranking.widen`). Character
offsets refer to the parsed text (`ParsedDocument.text`).
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from mcp_server.library.documents import Heading, ParsedDocument
from mcp_server.library.embedder import Embedder


@dataclass(frozen=True)
class Passage:
    """A stretch of one document's parsed text: `text == document.text[char_start:char_end]`."""

    document_id: str
    index: int
    """Which of its document's chunks it is, or was widened from (from 0)."""
    char_start: int
    char_end: int
    text: str
    heading: str = ""
    """Heading path at its start, outer to inner, joined by " > " ("" if none)."""

    @property
    def chunk_id(self) -> str:
        """Its chunk's id in the store: "<document id>::<index>"."""
        return f"{self.document_id}::{self.index}"


def heading_path(headings: list[Heading], char_pos: int) -> str:
    """The heading path (outer > inner) in force at `char_pos`."""
    stack: list[Heading] = []
    for heading in headings:
        if heading.char_start > char_pos:
            break
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        stack.append(heading)
    return " > ".join(h.title for h in stack)


def chunk_document(
    document: ParsedDocument, embedder: Embedder, chunk_tokens: int = 128, overlap_tokens: int = 32
) -> list[Passage]:
    """Cut a document into its chunks: overlapping passages of at most `chunk_tokens` tokens, specials included.

    `chunk_tokens` is capped at `embedder.max_tokens`, so the model never truncates a chunk. The default, 128,
    is the length all-MiniLM-L6-v2 was trained on; search widens each hit with its neighbours' text.

    Markdown and EPUB sections are chunked separately, so a chunk's heading is the section it comes from.
    Cuts prefer a paragraph break, then a sentence end, then a word boundary, in the last 40% of a window.
    Every chunk is re-counted, so no text is ever truncated by the model.

    Returns:
        list of `Passage`, in text order, `index` 0, 1, 2...
    """
    text = document.text
    spans = embedder.token_spans(text)
    limit = min(chunk_tokens, embedder.max_tokens)
    budget = limit - embedder.count_tokens("")
    chunks: list[Passage] = []
    for first, last in _sections(document, spans):
        start = first
        while start < last:
            end = min(start + budget, last)
            while True:
                cut = end if end == last else _best_cut(text, spans, start, end)
                char_start, char_end = spans[start][0], spans[cut - 1][1]
                if embedder.count_tokens(text[char_start:char_end]) <= limit or cut - start <= 1:
                    break
                end = cut - 1  # re-tokenised differently (a cut inside a word): shrink and retry
            chunk_text = text[char_start:char_end]
            heading = heading_path(document.headings, _heading_anchor(document.headings, char_start, char_end))
            chunks.append(Passage(document.document_id, len(chunks), char_start, char_end, chunk_text, heading))
            if cut >= last:
                break
            start = _word_start(text, spans, max(cut - overlap_tokens, start + 1), cut)
    return chunks


def _sections(document: ParsedDocument, spans: list[tuple[int, int]], min_tokens: int = 32) -> list[tuple[int, int]]:
    """Token ranges [first, last) to chunk separately: one per markdown/EPUB section (tiny ones join the next)."""
    if document.format not in {"md", "epub"} or not spans:
        return [(0, len(spans))]
    starts = [0]
    for heading in document.headings:
        token = bisect.bisect_left(spans, heading.char_start, key=lambda span: span[0])
        if token - starts[-1] >= min_tokens:
            starts.append(token)
    return list(zip(starts, [*starts[1:], len(spans)], strict=True))


def _heading_anchor(headings: list[Heading], char_start: int, char_end: int) -> int:
    """Where to read a chunk's heading path: the last heading in its first quarter, else its start."""
    inside = [h.char_start for h in headings if char_start <= h.char_start <= char_start + (char_end - char_start) // 4]
    return inside[-1] if inside else char_start


def _gap(text: str, spans: list[tuple[int, int]], k: int) -> str:
    """The characters between token k-1 and token k."""
    return text[spans[k - 1][1] : spans[k][0]]


def _best_cut(text: str, spans: list[tuple[int, int]], start: int, end: int) -> int:
    """Token index to cut before: paragraph break > sentence end > word boundary > `end`."""
    low = start + max(1, (end - start) * 6 // 10)
    candidates = range(end, low - 1, -1)
    for k in candidates:
        if "\n\n" in _gap(text, spans, k):
            return k
    for k in candidates:
        if _gap(text, spans, k).strip() == "" and _gap(text, spans, k) and _ends_sentence(text, spans, k):
            return k
    for k in candidates:
        if _gap(text, spans, k):
            return k
    return end


def _ends_sentence(text: str, spans: list[tuple[int, int]], k: int) -> bool:
    last = text[spans[k - 1][0] : spans[k - 1][1]]
    before = text[spans[k - 2][0] : spans[k - 2][1]] if k >= 2 else ""
    return last in {".", "!", "?"} or (last in {'"', "”", "’", "'", ")"} and before in {".", "!", "?"})


def _word_start(text: str, spans: list[tuple[int, int]], k: int, limit: int) -> int:
    """First token at or after k (and before `limit`) that begins a word; k itself if none does."""
    for j in range(k, limit):
        if _gap(text, spans, j):
            return j
    return k


_BLOCK = re.compile(r"[^\n]+(?:\n(?![ \t]*(?:[#>*|-]|\d+\.|\n))[^\n]*)*")
"""A paragraph, list item, heading or table row: lines up to a blank line or a line opening a markdown block."""
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+[\"'”’)]*|$)")
_MARKUP = re.compile(r"^[\s#>*|-]*(?:\d+\.\s+)?(?:\*\*)?")


def split_sentences(text: str, offset: int = 0) -> list[tuple[str, int, int]]:
    """Sentences of `text` with at least 4 words, markup stripped: (sentence, start, end), offsets + `offset`."""
    found = []
    for block in _BLOCK.finditer(text):
        for match in _SENTENCE.finditer(block.group()):
            lead = len(_MARKUP.match(match.group()).group())  # type: ignore[union-attr]
            sentence = match.group()[lead:].rstrip()
            if len(sentence.split()) >= 4:
                start = offset + block.start() + match.start() + lead
                found.append((sentence, start, start + len(sentence)))
    return found
