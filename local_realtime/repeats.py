"""Words a reply must not say again: the user's own words read back, the coach's earlier turns, itself, "the user".

Compared as words, not tokens: a token-level ban only makes a small model spell the same word another way
("seagULL", "acat"). `RepeatBan.rejects` tells the decoder, for a candidate token, whether the spoken text
would then end with a run of words of a reference (the last of them possibly still being spelt, or glued to the
word before), with a run it has said already in this reply, or with a forbidden phrase; the decoder then takes
its next best token.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_FILE = re.compile(r"[\w./-]+\.(?:md|markdown|txt)\b")
PARTIAL_MIN_CHARS = 3
"""A word still being spelt is compared once it has this many letters (earlier, too many words would match)."""
SELF_REPEAT_WORDS = 5
"""A reply may not say the same run of this many words twice."""


class RepeatBan:
    """Word sequences a reply must not copy.

    Args:
        references: texts no `size` words in a row of which may be said again.
        phrases: texts never to say (each its own length, e.g. "the user"; a question asked before).
        size: the run of words, for `references`.
        itself: no run of this many words may come twice in the text itself.
    """

    def __init__(
        self,
        references: Sequence[str] = (),
        phrases: Sequence[str] = (),
        size: int = 5,
        itself: int = SELF_REPEAT_WORDS,
    ) -> None:
        self._itself = itself
        self._next: dict[tuple[str, ...], set[str]] = {}
        self._add(references, size)
        for phrase in phrases:
            words = _WORD.findall(_FILE.sub(" ", _plain(phrase)))  # as the text is read: file names left out
            if words:
                self._next.setdefault(tuple(words[:-1]), set()).add(words[-1])

    def including(
        self, references: Sequence[str] = (), size: int = 5, phrases: Sequence[str] = (), itself: int | None = None
    ) -> RepeatBan:
        """A copy that also refuses `size` words in a row of `references`, and `phrases` whole (and, given `itself`,
        a run of that many words twice in the text)."""
        wider = RepeatBan(phrases=phrases, itself=self._itself if itself is None else itself)
        for key, words in self._next.items():
            wider._next.setdefault(key, set()).update(words)
        wider._add(references, size)
        return wider

    def _add(self, references: Sequence[str], size: int) -> None:
        for text in references:
            for part in _FILE.split(_plain(text)):  # a file's name may always be said again: no run crosses it
                words = _WORD.findall(part)
                for start in range(len(words) - size + 1):
                    window = words[start : start + size]
                    self._next.setdefault(tuple(window[:-1]), set()).add(window[-1])

    def rejects(self, before: str, piece: str) -> bool:
        """Whether saying `piece` after `before` ends the text with a forbidden run it did not end with already."""
        return self._ends_forbidden(before + piece) and not self._ends_forbidden(before)

    def _ends_forbidden(self, text: str) -> bool:
        words = _WORD.findall(_FILE.sub(" ", _plain(text)))
        if not words:
            return False
        spelling = bool(re.search(r"[a-z0-9']$", _plain(text)))  # the last word may go on
        last = words[-1]

        def hits(banned: str) -> bool:
            return banned == last or (spelling and len(last) >= PARTIAL_MIN_CHARS and banned.startswith(last))

        lengths = {len(key) for key in self._next}
        for reading in _readings(words):
            last = reading[-1]
            for length in lengths:
                key = tuple(reading[-1 - length : -1])
                if length + 1 <= len(reading) and any(hits(w) for w in self._next.get(key, ())):
                    return True
            if _said_twice(reading, hits, self._itself):
                return True
        return False


def _plain(text: str) -> str:
    """Lower case, typographic apostrophes as plain ones ("it’s" and "it's" are one word)."""
    return text.lower().replace("’", "'").replace("‘", "'")


def _readings(words: list[str]) -> list[list[str]]:
    """The words as they are, and with the last split in two: a model kept off " cat" may glue it on ("acat")."""
    last = words[-1]
    splits = [[*words[:-1], last[:cut], last[cut:]] for cut in range(1, len(last)) if len(last) > PARTIAL_MIN_CHARS]
    return [words, *splits]


def _said_twice(words: list[str], hits: Callable[[str], bool], size: int) -> bool:
    """Whether the text's last `size` words (the last one as `hits` compares it) came earlier in it."""
    if len(words) < 2 * size:
        return False
    head = tuple(words[-size:-1])
    for start in range(len(words) - 2 * size + 1):
        if tuple(words[start : start + size - 1]) == head and hits(words[start + size - 1]):
            return True
    return False
