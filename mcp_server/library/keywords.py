"""Keyword (BM25) ranking of library chunks, fused with the semantic ranking in `Library.search`.

MiniLM alone misses passages a user names by their words ("live deliberately", "marriage of true minds");
BM25 (bm25s, sparse matrices) finds those, the embedding finds paraphrases. Built in memory from the store.
Words are folded to plain letters ("Tzŭ" matches "tzu") and stemmed ("pauses" matches "pause"), and each chunk is
indexed with its document's title and author and its heading, so "what does Thoreau say about simplicity" favours
Walden's chunks even where the text never names its author.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Sequence
from typing import Any

import bm25s
import numpy as np
import Stemmer


def keyword_text(text: str, title: str = "", author: str = "", heading: str = "") -> str:
    """What BM25 indexes for one chunk: its document's title and author, its heading path, then its text."""
    return f"{title} {author} {heading}\n{text}"


def _fold(text: str) -> str:
    """`text` without accents or other combining marks ("Tzŭ" -> "Tzu")."""
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


class KeywordIndex:
    """BM25 over chunk texts; ids are the store's chunk ids, `groups` their document ids.

    Args:
        ids: chunk ids, one per text.
        texts: what to index per chunk (see `keyword_text`).
        groups: document id per chunk, for searches inside one document.
    """

    def __init__(self, ids: Sequence[str], texts: Sequence[str], groups: Sequence[str]):
        self.ids = list(ids)
        self._groups = np.asarray(groups, dtype=object)
        self._stemmer = Stemmer.Stemmer("english")
        self._bm25 = bm25s.BM25()
        if self.ids:
            self._bm25.index(self._tokenize([_fold(t) for t in texts]), show_progress=False)

    @classmethod
    def of_chunks(cls, collection: Any, wanted: Callable[[str], bool]) -> KeywordIndex:
        """BM25 over the chunks stored in Chroma `collection` whose document id is `wanted` (read in pages)."""
        ids, texts, groups = [], [], []
        for offset in range(0, collection.count(), 5000):
            page = collection.get(include=["documents", "metadatas"], limit=5000, offset=offset)
            for i, t, m in zip(page["ids"], page["documents"], page["metadatas"], strict=True):
                if wanted(str(m["document_id"])):
                    ids.append(i)
                    texts.append(keyword_text(t, str(m["title"]), str(m.get("author", "")), str(m["heading"])))
                    groups.append(str(m["document_id"]))
        return cls(ids, texts, groups)

    def _tokenize(self, texts: list[str]) -> bm25s.tokenization.Tokenized:
        return bm25s.tokenize(texts, stopwords="en", stemmer=self._stemmer, show_progress=False)

    def search(self, query: str, k: int, group: str | None = None) -> list[str]:
        """Chunk ids matching `query`'s words, best first, at most `k`; only `group`'s chunks if given."""
        words = bm25s.tokenize(
            [_fold(query)], stopwords="en", stemmer=self._stemmer, return_ids=False, show_progress=False
        )[0]
        known = [w for w in words if w in self._bm25.vocab_dict] if self.ids else []
        if not known:
            return []
        scores = self._bm25.get_scores(known)
        if group is not None:
            scores = np.where(self._groups == group, scores, 0.0)
        k = min(k, len(self.ids))
        top = np.argpartition(-scores, k - 1)[:k]
        return [self.ids[int(i)] for i in top[np.argsort(-scores[top])] if scores[i] > 0]
