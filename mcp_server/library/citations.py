"""Cited text the library returns: search hits, answers with a quoted hint, readings and evidence.

Each cites a passage of a document (see `passages.py`) by its offsets, which point into the document's
parsed text, so "read me more" continues where a citation ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import Field

from mcp_server.library.sources import Source

MAX_PASSAGE_CHARS = 1500
"""Passages in results are trimmed to this many characters; `read_passage` pages through the rest."""
SCORE_MEANING = (
    "Fused rank score that orders the hits: the sum of 1 / (60 + rank) over the keyword (BM25) ranking and "
    "the meaning (embedding) ranking that found the passage (rank 0 = first); at most about 0.033, higher is "
    "better, hits come sorted by it. Comparable only within one search; not a similarity."
)
"""What `SearchHit.score` means, in the words the tools' output schema gives the model."""


@dataclass(frozen=True)
class SearchHit:
    """One search result: a passage (trimmed to `MAX_PASSAGE_CHARS`), where it stands, and its score."""

    document_id: str
    title: str
    heading: str
    score: Annotated[float, Field(description=SCORE_MEANING)]
    """Reciprocal rank fusion score (see `ranking.fuse` and `SCORE_MEANING`): higher is better, and the
    order of the hits; at equal weights at most 2 / 60."""
    passage: str
    """The passage's text, trimmed to `MAX_PASSAGE_CHARS`."""
    char_start: int
    char_end: int
    """Offsets of the whole passage in the document's parsed text (read it with `read_passage`)."""
    source: str = "library"
    """"library", or "workspace" for a note in the user's workspace (id "workspace:<path>")."""


@dataclass(frozen=True)
class AnswerHint:
    """The single sentence of the retrieved passages that best matches the question, quoted verbatim."""

    sentence: str
    document_id: str
    char_start: int
    char_end: int
    score: Annotated[
        float, Field(description="Cosine similarity of the sentence to the question, -1..1; higher is better")
    ]


@dataclass(frozen=True)
class Answer:
    """Passages answering a question about one document, best first, plus a quoted answer hint."""

    question: str
    answer_hint: AnswerHint | None
    passages: list[SearchHit]


@dataclass(frozen=True)
class Reading:
    """What `read_passage` returns: a passage of a document read from an offset, and where to read on."""

    document_id: str
    title: str
    char_start: int
    char_end: int
    total_chars: int
    text: str
    next_char_start: int | None
    """Where to continue reading, or None at the end of the document."""


def cut_at_word(text: str, max_chars: int) -> str:
    """`text` if it fits in `max_chars`, else its first `max_chars` cut back to a whole word, plus " ..."."""
    return text if len(text) <= max_chars else text[:max_chars].rsplit(" ", 1)[0] + " ..."


@dataclass(frozen=True)
class Evidence:
    """Sentences quoted from one document, in document order, that bear on the question."""

    document_id: str
    title: str
    source: Source
    """"library" or "workspace" (a note in the user's workspace; `file_operation` reads it)."""
    heading: str
    text: str
    score: Annotated[
        float,
        Field(
            description="How well its best sentence answers the question: cosine similarity plus half the share of "
            "the question's words it holds, plus a little for a better-ranked hit; higher is better (the best "
            "evidence comes last)"
        ),
    ]
