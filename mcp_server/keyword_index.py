"""Keyword (BM25) ranking of library chunks, fused with the semantic ranking in `Library.search`.

MiniLM alone misses passages a user names by their words ("live deliberately", "marriage of true minds");
BM25 (bm25s, sparse matrices) finds those, the embedding finds paraphrases. Built in memory from the store.
"""

from __future__ import annotations

from collections.abc import Sequence

import bm25s
import numpy as np


class KeywordIndex:
    """BM25 over chunk texts; ids are the store's chunk ids, `groups` their document ids."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str], groups: Sequence[str]):
        self.ids = list(ids)
        self._groups = np.asarray(groups, dtype=object)
        self._bm25 = bm25s.BM25()
        if self.ids:
            self._bm25.index(bm25s.tokenize(list(texts), stopwords="en", show_progress=False), show_progress=False)

    def search(self, query: str, k: int, group: str | None = None) -> list[str]:
        """Chunk ids matching `query`'s words, best first, at most `k`; only `group`'s chunks if given."""
        tokens = bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not self.ids or not tokens.vocab:
            return []
        mask = None if group is None else (self._groups == group).astype(np.float32)
        k = min(k, len(self.ids))
        found, scores = self._bm25.retrieve(tokens, k=k, weight_mask=mask, show_progress=False, n_threads=1)
        return [self.ids[int(i)] for i, s in zip(found[0], scores[0], strict=True) if s > 0]
