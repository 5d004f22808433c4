"""Cited text the library returns: search hits, answers with a quoted hint, and read passages.

Offsets always point into the document's parsed text, so "read me more" continues where a citation ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from mcp_server.sources import Source

MAX_PASSAGE_CHARS = 1500
"""Passages in results are trimmed to this many characters; `read_passage` pages through the rest."""


@dataclass(frozen=True)
class Hit:
    """One search result; `passage` is the chunk text, trimmed to `MAX_PASSAGE_CHARS`."""

    document_id: str
    title: str
    heading: str
    score: float
    """Cosine similarity, -1..1: HIGHER is better."""
    passage: str
    char_start: int
    char_end: int
    """Offsets of the whole chunk in the document's parsed text (read it with `read_passage`)."""
    source: str = "library"
    """"library", or "workspace" for a note in the user's workspace (id "workspace:<path>")."""


@dataclass(frozen=True)
class AnswerHint:
    """The single sentence of the retrieved passages that best matches the question, quoted verbatim."""

    sentence: str
    document_id: str
    char_start: int
    char_end: int
    score: float
    """Cosine similarity to the question; higher is better."""


@dataclass(frozen=True)
class Answer:
    """Passages answering a question about one document, best first, plus a quoted answer hint."""

    question: str
    answer_hint: AnswerHint | None
    passages: list[Hit]


@dataclass(frozen=True)
class Passage:
    """A stretch of a document's parsed text."""

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
    score: float
    """Relevance of its best unit to the question: cosine similarity plus shared-word share; higher is better."""
