"""The words of the user's documents that speech-to-text should expect: titles, authors, names and rare words.

Whisper knows common English; it mishears what it has rarely heard ("Alfama", "Sintra", "sourdough"), and a
word the sound alone leaves open ("slugs" heard as "plugs"). Each document's terms are weighed when it is
indexed (`terms`) and kept with its record; `vocabulary` merges the library's, best first, for a speech-to-text
prompt. A word is rare when the embedding model's word-piece vocabulary (the 30,000 commonest English pieces)
has to spell it in pieces; a name is a word written with a capital in the middle of sentences.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

from mcp_server.library.documents import ParsedDocument
from mcp_server.library.embedder import Embedder

TERMS_PER_DOCUMENT = 40
"""Terms kept with each document's record."""
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
"""A word, with the apostrophes inside it ("landlord's", "I'm"); a hyphen parts two words ("mid-March")."""
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]['\"”’)]*\s+|\n\s*\n\s*|[#*|>-]\s*|[\"“(]\s*)$")
_COMMON_WORDS = """
    about after again also and any are because been before being between both but can could did does doing down
    during each few for from further had has have having her here hers herself him himself his how into its itself
    just more most myself nor not now off once only other our ours ourselves out over own same she should some such
    than that the their theirs them themselves then there these they this those through too under until very was
    were what when where which while who whom why will with would you your yours yourself yourselves
    january february march april may june july august september october november december
    monday tuesday wednesday thursday friday saturday sunday mondays tuesdays wednesdays thursdays fridays
    saturdays sundays chapter chapters contents volume"""
_COMMON = frozenset(_COMMON_WORDS.split())
"""Words nobody needs to spell for Whisper, names among them (weekdays and months are written with a capital)."""
_ROMAN = re.compile(r"[ivxlcdm]+")
"""Chapter numbers ("XXXII"): nobody says them as written (a word like "mild" or "civil" is rarely rare)."""


def terms(parsed: ParsedDocument, embedder: Embedder, limit: int = TERMS_PER_DOCUMENT) -> list[tuple[str, float]]:
    """The document's author and the words of it most worth telling a speech-to-text model, weighed.

    A word's weight grows with how rare it is (word pieces beyond the first; a name counts one more) and how often
    the document uses it (logarithmically), doubled for a word of its headings. Common words weigh nothing.

    Returns:
        (term as the document writes it, weight) pairs, heaviest first, at most `limit` (the author first).
    """
    counts, inside, capitals, forms = _count(parsed.text)
    headings = {w.lower() for h in parsed.headings for w in _WORD.findall(h.title)}
    blank = embedder.count_tokens("")
    weighed: list[tuple[str, float]] = []
    for word, count in counts.items():
        if len(word) < 3 or word in _COMMON or _ROMAN.fullmatch(word):
            continue
        named = capitals[word] >= max(1, 0.8 * inside[word])  # a capital wherever no sentence starts
        rarity = embedder.count_tokens(word) - blank - 1 + (1.0 if named else 0.0)
        if rarity > 0:
            weight = rarity * (1 + math.log(count)) * (2 if word in headings else 1)
            weighed.append((_written(forms[word]), round(weight, 3)))
    weighed.sort(key=lambda pair: -pair[1])
    author = [(parsed.author, 100.0)] if parsed.author else []
    return (author + weighed)[:limit]


def _written(forms: Counter[str]) -> str:
    """How a word is most often written, other than in capitals throughout (a heading's "DISOBEDIENCE")."""
    for form, _ in forms.most_common():
        if not form.isupper():
            return form
    return next(iter(forms)).capitalize()


def _count(text: str) -> tuple[Counter[str], Counter[str], Counter[str], dict[str, Counter[str]]]:
    """Per lower-cased word: how often it occurs; how often where no sentence starts (a capital there says
    nothing), and how often with a capital there; and the ways it is written."""
    counts: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    capitals: Counter[str] = Counter()
    forms: dict[str, Counter[str]] = {}
    for match in _WORD.finditer(text):
        word = re.sub(r"['’]s$", "", match.group())  # "landlord's" is "landlord"
        key = word.lower()
        if "'" in key or "’" in key:  # "I'm", "don't": common, whatever their pieces
            continue
        counts[key] += 1
        forms.setdefault(key, Counter())[word] += 1
        if not _SENTENCE_START.search(text, max(0, match.start() - 4), match.start()):
            inside[key] += 1
            capitals[key] += word[0].isupper()
    return counts, inside, capitals, forms


def vocabulary(documents: Iterable[tuple[str, list[tuple[str, float]]]], max_chars: int) -> list[str]:
    """The library's titles, then its documents' terms by weight, each once, in at most `max_chars` characters
    (with ", " between them): a phrase that does not fit is left out, and a shorter one after it may still fit.

    Args:
        documents: (title, `terms` of the document) per library document.

    Returns:
        phrases, the most useful first.
    """
    documents = list(documents)
    merged: dict[str, tuple[float, str]] = {}
    for _, weighed in documents:
        for term, weight in weighed:
            key = term.lower()
            if key not in merged or merged[key][0] < weight:
                merged[key] = (weight, term)
    titled = {w.lower() for title, _ in documents for w in _WORD.findall(title)}
    ranked = [term for key, (_, term) in sorted(merged.items(), key=lambda item: -item[1][0]) if key not in titled]
    phrases: list[str] = []
    used = 0
    for phrase in [*dict.fromkeys(title for title, _ in documents), *ranked]:
        if used + len(phrase) + 2 > max_chars:
            continue
        phrases.append(phrase)
        used += len(phrase) + 2
    return phrases
