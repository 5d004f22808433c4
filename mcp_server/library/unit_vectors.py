"""The evidence units' vectors, embedded when their document is indexed, so a search's evidence costs a lookup.

`evidence.select` scores the units (sentences, list items, table rows) of a search's best passages by their
meaning. Embedding them for every question cost more than the search itself (0.2-0.8 s for book-length
passages). A hit's passage is always one chunk widened with its neighbours' text (`ranking.widen`), so the
passages a search can return are known when the document is indexed: `UnitVectors.add` cuts each of them into
the units `select` would quote, embeds every distinct one once, as `evidence.embedded_text` writes it, and keeps
the vectors in a Chroma collection of their own, keyed by document id and a hash of that text. At query time
`lookup` reads the few dozen a question needs by id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from mcp_server.library.embedder import Embedder
from mcp_server.library.evidence import embedded_text, quotable
from mcp_server.library.passages import Passage
from mcp_server.library.ranking import cite, widen

UNITS_CONFIGURATION = {"hnsw": {"space": "ip", "ef_construction": 16, "max_neighbors": 4}}
"""The units collection is only ever read by id, never searched by similarity: the cheapest graph Chroma builds."""
UNIT_BATCH = 512
"""Unit texts embedded and stored per call: the model sorts a call's texts by length, so a bigger call pads less
(units run from 5 to 250 word-pieces; 512 a call took 0.7 of the time 128 did)."""


def unit_id(document_id: str, text: str) -> str:
    """The stored id of a unit embedded as `text` (see `evidence.embedded_text`) in document `document_id`."""
    return f"{document_id}::{hashlib.blake2b(text.encode('utf-8'), digest_size=12).hexdigest()}"


def searchable_units(title: str, chunks: Sequence[Passage], start: int = 0, end: int | None = None) -> list[str]:
    """The texts `evidence.select` embeds for the passages a search can cite of `chunks[start:end]`.

    Args:
        title: the document's title, as the store keeps it with each chunk.
        chunks: all of one document's chunks, in order (each passage takes text from its neighbours).

    Returns:
        distinct embedded texts, in the order first met.
    """
    texts: dict[str, None] = {}
    for index in range(start, len(chunks) if end is None else end):
        before = chunks[index - 1] if index > 0 else None
        after = chunks[index + 1] if index + 1 < len(chunks) else None
        hit = cite(widen(chunks[index], before, after), title, 0.0)  # the passage exactly as a search returns it
        for unit in quotable(hit.passage):
            texts.setdefault(embedded_text(title, hit.heading, unit))
    return list(texts)


class UnitVectors:
    """The units' vectors of every indexed document, in one Chroma collection (`evidence.StoredUnits`).

    Args:
        collection: returns the Chroma collection (created with `UNITS_CONFIGURATION`); called at each use, so
            the store may open, drop and recreate it.
        embedder: the model that embeds the chunks (a unit's vector must be comparable with the question's).
    """

    def __init__(self, collection: Callable[[], Any], embedder: Embedder) -> None:
        self._collection = collection
        self._embedder = embedder

    def add(self, document_id: str, texts: Sequence[str]) -> None:
        """Embed and store `texts` (from `searchable_units`) of document `document_id`."""
        collection = self._collection()
        for start in range(0, len(texts), UNIT_BATCH):
            batch = list(texts[start : start + UNIT_BATCH])
            collection.upsert(
                ids=[unit_id(document_id, text) for text in batch],
                embeddings=self._embedder.embed(batch),
                metadatas=[{"document_id": document_id}] * len(batch),
            )

    def remove(self, document_id: str) -> None:
        """Forget every unit of `document_id`."""
        self._collection().delete(where={"document_id": document_id})

    def count(self) -> int:
        """Units stored, over all documents."""
        return int(self._collection().count())

    def lookup(self, keys: Sequence[tuple[str, str]]) -> dict[tuple[str, str], npt.NDArray[np.float32]]:
        """The stored vectors of (document id, embedded text) pairs; pairs never stored (an index built before
        units were, a passage cut differently) are left out, and `select` embeds them."""
        if not keys:
            return {}
        ids = {unit_id(document_id, text): (document_id, text) for document_id, text in keys}
        got = self._collection().get(ids=list(ids), include=["embeddings"])
        return {
            ids[i]: np.asarray(vector, dtype=np.float32)
            for i, vector in zip(got["ids"], got["embeddings"], strict=True)
        }
