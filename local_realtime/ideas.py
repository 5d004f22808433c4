"""The ideas one brainstorm turn offers ("How about A, B, or C?"), kept apart from each other as they are spelt.

A small model offers the same idea three ways ("Sourdough Bakery by the Sea", "... in the Sea"): while a reply's
ideas are decoded, an idea may not begin as an earlier one began (`lead`, `leads_again`), nor use again a word
another idea of the same turn used (`stem_again`, `short_again`). `reply_shape.ReplyShape.rejects` asks these for
each token.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

ARTICLES = ("a", "an", "the")
"""Words an idea's first word is found after."""


def lead(idea: str) -> str:
    """An idea's first word once it is whole (lower case; "a", "an", "the" skipped); "" while it is being spelt."""
    words = _without_articles(idea)
    return re.sub(r"[^\w']", "", words[0]) if words and (len(words) > 1 or idea[-1:].isspace()) else ""


def leads_again(idea: str, leads: set[str]) -> bool:
    """Whether `idea` (being spelt) begins with one of `leads`, or with a word of 3 letters or more that can only
    become one of them."""
    if whole := lead(idea):
        return whole in leads
    words = _without_articles(idea)
    spelt = re.sub(r"[^\w']", "", words[-1]) if len(words) == 1 else ""
    return len(spelt) >= 3 and spelt not in ARTICLES and any(first.startswith(spelt) for first in leads)


STEM_CHARS = 4
"""Words of one turn's ideas are compared by their first letters: "Bakery" and "Bakes" are one word."""


def stem_again(said: Sequence[str], idea: str) -> bool:
    """Whether the word `idea` ends with (being spelt, `STEM_CHARS` letters so far or more) begins as a word of
    as many letters or more of the ideas `said` before it, or of `idea` itself, began."""
    spelt = re.search(r"[a-z']+$", idea.lower())
    if spelt is None or len(spelt[0]) < STEM_CHARS:
        return False
    others = re.findall(r"[a-z']+", " ".join([*said, idea[: spelt.start()]]).lower())
    return any(w[:STEM_CHARS] == spelt[0][:STEM_CHARS] for w in others if len(w) >= STEM_CHARS)


SHORT_COMMON = frozenset({"the", "and", "for", "our", "its", "new", "all", "any", "one", "two", "you", "big", "fun"})
"""Three-letter words two ideas may share."""


def short_again(said: Sequence[str], before: str, piece: str) -> bool:
    """Whether `piece` ends a word of three letters (`before` being the idea so far) that an idea `said` before it in
    the turn, or this idea, used already ("Sourdough Bakery in the Sea", "Salty Dough in the Sea"): shorter than
    `STEM_CHARS`, such a word is only known once it ends."""
    ended = re.search(r"(?<![a-z'])([a-z]{3})$", before.lower())
    if ended is None or not piece or piece[0].isalpha() or piece[0] == "'" or ended[1] in SHORT_COMMON:
        return False
    words = re.findall(r"[a-z']+", " ".join([*said, before[: ended.start()]]).lower())
    return ended[1] in words


def _without_articles(idea: str) -> list[str]:
    """The idea's words in lower case, the articles it begins with left out (the last word always kept)."""
    words = idea.lower().split()
    while len(words) > 1 and words[0] in ARTICLES:
        words = words[1:]
    return words
