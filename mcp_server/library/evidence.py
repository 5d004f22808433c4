"""The evidence a search gives the model: the few sentences of the best passages that bear on the question.

A voice model answers from what it reads right before it speaks; five 1,500-character passages of JSON
are slow to read (a small local model reads about 70 tokens a second) and bury the one line that matters.
`select` cuts the passages into units (sentences; a list item or a table row stays whole, with its
column names) and keeps the few that best match the question, by meaning (the embedder) and by shared
words; `render` writes them for the model with their document titles. The units' vectors are normally read
from the store, embedded when their document was indexed (`unit_vectors.py`); only the rest are embedded here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt
import Stemmer

from mcp_server.library.citations import Evidence, SearchHit
from mcp_server.library.embedder import Embedder
from mcp_server.library.sources import source_of, workspace_name

MAX_UNITS = 5
"""Units quoted in all: the best `CORE_UNITS`, then their neighbours or the next best, while `MAX_CHARS` allows."""
CORE_UNITS = 1
RELEVANCE_MARGIN = 0.15
"""Units scoring this much below the best are left out: noise only distracts a small model."""
MAX_CHARS = 330
"""Longest evidence text in all (a unit longer than that is cut at a word)."""
PASSAGES_READ = 4
"""How many of the best passages the units are taken from."""
HEADING_BONUS = 0.1
"""Added to a unit whose section the question names ("What book am I reading now?": the "Reading now" section)."""
_STOP_WORDS = (
    "a an and are as at be by can do does did for from how i in is it me my of on or our the "
    "their them there these this to us was we were what when where which who why will with you "
    "your according says say said tell about much many long"
)
_STOP = frozenset(_STOP_WORDS.split())
_STEMMER = Stemmer.Stemmer("english")  # "savings" and "save", "monthly" and "month" meet
_WORD = re.compile(r"[a-z0-9]+")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"'”’)]*\s+(?=[A-Z0-9\"'“‘(])")
_WHOLE_ITEM_CHARS = 240
_PLAIN_HEADING = re.compile(r"^[A-Z][\w'’-]*(?: [\w'’&-]+){0,3}$")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+")
_MARKUP = re.compile(r"\*\*|__|(?<!\w)[*_](?=\w)|(?<=\w)[*_](?!\w)|`")


@dataclass(frozen=True)
class Unit:
    """One quotable piece of a passage."""

    text: str
    heading: str
    """The heading it stands under in the passage ("" if none there)."""
    block: int
    """Which paragraph, list item or table row of the passage it belongs to (sentences of one paragraph share it)."""


class StoredUnits(Protocol):
    """The units' vectors embedded at index time (`unit_vectors.UnitVectors`), the seam `select` reads them by."""

    def lookup(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], npt.NDArray[np.float32]]:
        """Vectors stored for (document id, `embedded_text`) pairs; pairs not stored are left out."""
        ...


def units(passage: str) -> list[Unit]:
    """The passage as quotable units: sentences, whole list items (with their continuation lines) and table
    rows (as "column: value" pairs), each with the heading it stands under."""
    found: list[Unit] = []
    heading, header, block, item = "", None, 0, False
    lines: list[str] = []  # the paragraph or list item being read

    def flush() -> None:
        nonlocal block
        text = _plain(" ".join(lines))
        lines.clear()
        whole = item and len(text) <= _WHOLE_ITEM_CHARS  # "Dentist: 9 December. Bring the card." stays one
        for sentence in [text] if whole else _SENTENCE_END.split(text):
            if len(sentence.split()) >= 2:
                found.append(Unit(sentence.strip(), heading, block))
        block += 1

    for line in passage.splitlines():
        stripped = line.strip()
        if stripped.startswith("|"):
            flush()
            cells = [_plain(c) for c in stripped.strip("|").split("|")]
            if all(set(c) <= set("-: ") for c in cells):
                continue
            if header is None:
                header = cells
                continue
            pairs = zip(header, cells, strict=True) if len(header) == len(cells) else (("", c) for c in cells)
            found.append(Unit(", ".join(f"{h}: {c}" if h else c for h, c in pairs), heading, block))
            block += 1
            continue
        header = None
        if not stripped or stripped.startswith("#"):
            flush()
            item = False
            if stripped.startswith("#"):
                heading = _plain(stripped.lstrip("#"))
        elif _LIST_ITEM.match(stripped):
            flush()
            item = True
            lines.append(_LIST_ITEM.sub("", stripped))
        elif _PLAIN_HEADING.match(stripped) and not item:  # a PDF's or text file's section title
            flush()
            heading = stripped
        else:
            lines.append(stripped)  # a paragraph's next line, or a list item's continuation
    flush()
    return found


def select(
    question: str,
    hits: Sequence[SearchHit],
    embedder: Embedder,
    max_units: int = MAX_UNITS,
    *,
    stored: StoredUnits | None = None,
    question_vector: npt.NDArray[np.float32] | None = None,
) -> list[Evidence]:
    """The units of the best passages that best answer `question`, grouped by document and heading.

    The best units bring their neighbours along while there is room ("Slugs ate the lettuce. This year:
    copper tape, beer traps..." needs both sentences; a flight's list item needs the one beside it).

    Args:
        hits: search results, best first; the first `PASSAGES_READ` are read.
        stored: where the units' vectors embedded at index time are read; units it lacks are embedded now.
        question_vector: the question's vector if the search already made it (shape (dimension,)).

    Returns:
        list of `Evidence`, at most `max_units` units in all and about `MAX_CHARS` characters; the best last.
    """
    candidates: list[tuple[int, Unit]] = []  # (hit rank, unit)
    seen: set[str] = set()
    for rank, hit in enumerate(hits[:PASSAGES_READ]):
        for unit in quotable(hit.passage):
            if unit.text not in seen:
                seen.add(unit.text)
                candidates.append((rank, unit))
    if not candidates:
        return []
    texts = [embedded_text(hits[r].title, hits[r].heading, u) for r, u in candidates]
    keys = [(hits[r].document_id, text) for (r, _), text in zip(candidates, texts, strict=True)]
    cosine = _cosines(question, keys, embedder, stored, question_vector)
    wanted = _content_words(question)
    scores = [
        float(cosine[i])
        + 0.5 * _shared(wanted, texts[i])
        + HEADING_BONUS * _asks_for(wanted, unit.heading, hits[rank].title)
        + 0.03 * (PASSAGES_READ - rank)
        for i, (rank, unit) in enumerate(candidates)
    ]
    return _group(hits, candidates, scores, _choose(candidates, scores, max_units))


def quotable(passage: str) -> list[Unit]:
    """`units` of a passage, less the tail of a sentence the passage's start cut (it starts in lower case)."""
    found = units(passage)
    return found[1:] if found and passage[:1].islower() else found


def embedded_text(title: str, heading: str, unit: Unit) -> str:
    """What a unit is embedded as: its document's `title` (shared by all, so "my budget notes" favours none of
    them) and its own section heading, else the last of its passage's `heading` path ("Savings: We move ...")."""
    return f"{title} > {unit.heading or heading.split(' > ')[-1]}: {unit.text}"


def _cosines(
    question: str,
    keys: list[tuple[str, str]],
    embedder: Embedder,
    stored: StoredUnits | None,
    question_vector: npt.NDArray[np.float32] | None,
) -> npt.NDArray[np.float32]:
    """Cosine of each (document id, embedded text) unit with the question: stored vectors where there are
    any, the rest (and the question, unless given) embedded now in one batch."""
    found = stored.lookup(keys) if stored is not None else {}
    missing = [text for document_id, text in keys if (document_id, text) not in found]
    asked = [question] if question_vector is None else []
    fresh = embedder.embed([*asked, *missing]) if asked or missing else np.zeros((0, 0), dtype=np.float32)
    query = fresh[0] if asked else np.asarray(question_vector, dtype=np.float32).reshape(-1)
    made = iter(fresh[len(asked) :])
    vectors = np.stack([found[key] if key in found else next(made) for key in keys])
    return vectors @ query


def gather(
    question: str,
    hits: Sequence[SearchHit],
    embedder: Embedder,
    *,
    stored: StoredUnits | None = None,
    question_vector: npt.NDArray[np.float32] | None = None,
) -> list[Evidence]:
    """`select`, except for a question that names a document by its title but asks about words it lacks ("the
    reading list for December"): the start of that document's best passage, so the model reads the document the
    user means (`render` says which words it lacks)."""
    evidence = select(question, hits, embedder, stored=stored, question_vector=question_vector)
    document = named(question, evidence)
    if document is None or not off_topic(question, evidence):
        return evidence
    best = next(hit for hit in hits if hit.document_id == document.document_id)
    found = [(0, unit) for unit in units(best.passage)]
    chosen, used = [], 0
    for index, (_, unit) in enumerate(found):  # in reading order: what the document is, as it says it
        if chosen and used + len(unit.text) > MAX_CHARS:
            break
        chosen.append(index)
        used += len(unit.text)
    return _group([best], found, [1.0] * len(found), chosen) or evidence


def _choose(candidates: list[tuple[int, Unit]], scores: list[float], max_units: int) -> list[int]:
    """The best `CORE_UNITS` units, then, while `MAX_CHARS` allows and up to `max_units`, the best of their
    neighbours in the same paragraph (the sentence before or after) and of the next-best units within
    `RELEVANCE_MARGIN`. A list item's siblings come only on their own merit: "Tom recommended" must not
    bring the two books beside it."""
    ranked = [int(i) for i in np.argsort(scores)[::-1]]
    chosen = ranked[:CORE_UNITS]
    used = sum(len(candidates[i][1].text) for i in chosen)
    floor = scores[ranked[0]] - RELEVANCE_MARGIN
    pool: dict[int, float] = {i: scores[i] for i in ranked[CORE_UNITS : max_units + 1] if scores[i] >= floor}
    for index in chosen:
        rank, unit = candidates[index]
        for near in (index - 1, index + 1):
            if 0 <= near < len(candidates) and candidates[near][0] == rank and candidates[near][1].block == unit.block:
                pool[near] = max(pool.get(near, -1.0), scores[near] + 0.15)
    for index in sorted(pool, key=lambda i: -pool[i]):  # neighbours count whatever their score: context
        size = len(candidates[index][1].text)
        if index not in chosen and len(chosen) < max_units and used + size <= MAX_CHARS:
            chosen.append(index)
            used += size
    return chosen


def _group(
    hits: Sequence[SearchHit], candidates: list[tuple[int, Unit]], scores: list[float], chosen: list[int]
) -> list[Evidence]:
    """Chosen units by document and heading, in reading order within a group, and the best group last: a
    small model answers from what it read last, right before the question."""
    groups: dict[tuple[str, str], list[int]] = {}
    for index in sorted(chosen):
        rank, unit = candidates[index]
        heading = (unit.heading or hits[rank].heading).split(" > ")[-1]
        groups.setdefault((hits[rank].document_id, heading), []).append(index)
    evidence = []
    for (document_id, heading), indexes in groups.items():
        hit = hits[candidates[indexes[0]][0]]
        text = " ".join(_sentence(_cut(candidates[i][1].text)) for i in indexes)
        score = round(max(scores[i] for i in indexes), 4)
        evidence.append(Evidence(document_id, hit.title, source_of(document_id), heading, text, score))
    return sorted(evidence, key=lambda e: e.score)


def off_topic(question: str, evidence: Sequence[Evidence]) -> bool:
    """True when no word of the question (beyond the documents' titles, which it may name: "my garden plan")
    occurs in the best evidence: the documents do not speak of it ("apple trees" in a garden plan)."""
    if not evidence:
        return True
    best = max(evidence, key=lambda e: e.score)
    topic = _content_words(question) - _content_words(" ".join(e.title for e in evidence))
    return bool(topic) and not topic & _content_words(f"{best.heading} {best.text}")


def named(question: str, evidence: Sequence[Evidence]) -> Evidence | None:
    """The best evidence from a document the question names by its title ("the reading list", "my garden plan"):
    every word of the title is in the question, but for its numbers ("the garden plan" names "Garden plan 2027")."""
    asked = _content_words(question)
    for item in sorted(evidence, key=lambda e: -e.score):
        title = {w for w in _content_words(item.title) if not w.isdigit()}
        if title and title <= asked:
            return item
    return None


def render(question: str, evidence: Sequence[Evidence]) -> str:
    """The text the model reads: one line per document and heading, `From "<title>" (<where>): <sentences>`;
    when nothing matches (or `off_topic`), a sentence saying so, unless the question names a document by its
    title: that document's evidence is given then, after a line saying which of the question's words it lacks."""
    document = named(question, evidence) if evidence else None
    if not evidence or (off_topic(question, evidence) and document is None):
        return f"The user's documents say nothing about {question!r}."
    lines = []
    if off_topic(question, evidence) and document is not None:
        found = _content_words(" ".join(f"{e.title} {e.heading} {e.text}" for e in evidence))
        missing = [
            w for w in _WORD.findall(question.lower()) if len(w) > 1 and w not in _STOP and _stem(w) not in found
        ]
        lines.append(f'"{document.title}" has nothing about {" ".join(dict.fromkeys(missing))!r}; it says:')
    for item in evidence:
        where = workspace_name(item.document_id)
        place = f"workspace:{where}" if where is not None else item.document_id
        heading = f", {item.heading}" if item.heading and item.heading != item.title else ""
        lines.append(f'From "{item.title}" ({place}{heading}): {item.text}')
    return "\n".join(lines)


def _plain(text: str) -> str:
    return " ".join(_MARKUP.sub("", text).split())


def _sentence(text: str) -> str:
    """`text` ending in punctuation, so list items read apart ("walking shoes; two pairs of hiking socks.")."""
    return text if text[-1:] in ".!?;:\"'”)" else text + ";"


def _cut(unit: str) -> str:
    return unit if len(unit) <= MAX_CHARS else unit[:MAX_CHARS].rsplit(" ", 1)[0] + " ..."


def _stem(word: str) -> str:
    return str(_STEMMER.stemWord(word))


def _content_words(text: str) -> set[str]:
    """Stems of `text`'s words, less stop words and single letters (the "s" of "what's")."""
    return set(_STEMMER.stemWords([w for w in _WORD.findall(text.lower()) if len(w) > 1 and w not in _STOP]))


def _asks_for(wanted: set[str], heading: str, title: str) -> bool:
    """Whether every word of a section `heading` (other than its document's `title`) is among `wanted`."""
    words = _content_words(heading) - _content_words(title)
    return bool(words) and words <= wanted


def _shared(wanted: set[str], unit: str) -> float:
    if not wanted:
        return 0.0
    return len(wanted & _content_words(unit)) / len(wanted)
