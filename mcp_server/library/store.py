"""The library's store: its documents' chunks and records in Chroma, kept current with the files.

Vectors always come from the `Embedder` passed in; Chroma's default embedding function is never used. Beside
each document's chunks the store keeps the vectors of the units a search can quote from them (`unit_vectors.py`).
One index run at a time (a lock); workspace notes written since the last query are caught up before the
next one, and the keyword (BM25) indexes are rebuilt in memory after a source changes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import chromadb
from chromadb.config import Settings

from mcp_server.library.documents import ParsedDocument, UnreadableDocument, parse_document
from mcp_server.library.embedder import Embedder
from mcp_server.library.keywords import KeywordIndex
from mcp_server.library.passages import Passage, chunk_document
from mcp_server.library.records import (
    DocumentInfo,
    IndexMismatch,
    IndexProgress,
    IndexReport,
    ProgressCallback,
    fingerprint,
    record,
    stored_terms,
)
from mcp_server.library.sources import Source, Sources, source_of, workspace_id
from mcp_server.library.unit_vectors import UNIT_BATCH, UNITS_CONFIGURATION, UnitVectors, searchable_units
from mcp_server.library.vocabulary import terms

logger = logging.getLogger(__name__)

_EMBED_BATCH = 64
"""Chunks embedded and added to Chroma per call."""


class Store:
    """The Chroma collections of one library: its chunks (with vectors), one record per document and the
    vectors of the units evidence quotes (`units`).

    Args:
        sources: the folders whose documents are indexed.
        index_dir: folder of the embedded Chroma store (ignored when `chroma_host` is given).
        embedder: the model that embeds chunks.
        chroma_host: use the Chroma server at this host instead of the embedded store.
        chroma_port: port of that server.
        collection: prefix of the three Chroma collection names.
    """

    def __init__(
        self,
        sources: Sources,
        index_dir: Path,
        embedder: Embedder,
        *,
        chroma_host: str | None = None,
        chroma_port: int = 8000,
        collection: str = "library",
    ) -> None:
        self.sources, self.embedder = sources, embedder
        self.on_change: Callable[[], None] | None = None
        """Called (in the indexing thread) after an index run changed the library's documents (not the
        workspace's): the catalogue of documents changed."""
        settings = Settings(anonymized_telemetry=False)
        if chroma_host:
            self._client = chromadb.HttpClient(host=chroma_host, port=chroma_port, settings=settings)
        else:
            Path(index_dir).mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(path=str(index_dir), settings=settings)
        self._names = (f"{collection}-chunks", f"{collection}-documents", f"{collection}-units")
        self._index_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._opened: tuple[Any, Any, Any] | None = None
        self.units = UnitVectors(lambda: self._open()[2], embedder)
        """The vectors of the units evidence quotes, stored as each document is indexed."""
        self._keywords: dict[Source, KeywordIndex] = {}
        self._keywords_lock = threading.Lock()
        self._stale: set[str] = set()  # workspace document ids written since their last indexing
        self._stale_lock = threading.Lock()

    def collections(self) -> tuple[Any, Any]:
        """(chunks, documents) Chroma collections, created if missing.

        Raises:
            IndexMismatch: the stored index was built with another embedding model or dimension.
        """
        chunks, documents, _ = self._open()
        return chunks, documents

    def _open(self) -> tuple[Any, Any, Any]:
        """(chunks, documents, units) Chroma collections, created if missing; raises as `collections`."""
        if self._opened is not None:
            return self._opened
        model = {"embedding_model": self.embedder.name, "embedding_dimension": self.embedder.dimension}
        chunks = self._client.get_or_create_collection(
            self._names[0], embedding_function=None, metadata=model, configuration={"hnsw": {"space": "cosine"}}
        )
        stored = {k: (chunks.metadata or {}).get(k) for k in model}
        if stored != model:
            raise IndexMismatch(
                f"The library index was built with {stored['embedding_model']} "
                f"({stored['embedding_dimension']}-d) but this server embeds with {model['embedding_model']} "
                f"({model['embedding_dimension']}-d). Reindex: call index_library with rebuild=true "
                "(or delete the index folder and restart)."
            )
        documents = self._client.get_or_create_collection(self._names[1], embedding_function=None)
        units = self._client.get_or_create_collection(
            self._names[2], embedding_function=None, metadata=model, configuration=UNITS_CONFIGURATION
        )
        self._opened = (chunks, documents, units)
        return self._opened

    def records(self) -> dict[str, DocumentInfo]:
        """Every indexed document's record, by id."""
        got = self.collections()[1].get(include=["metadatas"])
        return {i: DocumentInfo.stored(i, m) for i, m in zip(got["ids"], got["metadatas"], strict=True)}

    def terms(self) -> dict[str, list[tuple[str, float]]]:
        """Every indexed document's `vocabulary.terms`, by id."""
        got = self.collections()[1].get(include=["metadatas"])
        return {i: stored_terms(m) for i, m in zip(got["ids"], got["metadatas"], strict=True)}

    # -- indexing ---------------------------------------------------------------------------------

    def update(self, progress: ProgressCallback | None = None, rebuild: bool = False) -> IndexReport:
        """Bring the index up to date: new and changed files embedded, deleted ones removed.

        Blocking (minutes for whole books); one run at a time, a second caller waits.
        `rebuild=True` drops the stored index first (the fix for `IndexMismatch`).
        """
        with self._index_lock:
            started = time.perf_counter()
            if rebuild:
                self._opened = None
                for name in self._names:
                    if name in {c.name for c in self._client.list_collections()}:
                        self._client.delete_collection(name)
            report = self._update(progress or (lambda _p: None))
            changed = {*report.added, *report.updated, *report.removed}
            with self._keywords_lock:
                for source in {source_of(i) for i in changed} | ({"library", "workspace"} if rebuild else set()):
                    self._keywords.pop(source, None)  # type: ignore[call-overload]
            report.seconds = time.perf_counter() - started
            logger.info(
                "Indexed library: %d added, %d updated, %d removed, %d unchanged, %d failed, %d chunks in %.1f s",
                *(len(report.added), len(report.updated), len(report.removed)),
                *(report.unchanged, len(report.failed), report.chunks_embedded, report.seconds),
            )
        if self.on_change is not None and any(source_of(i) == "library" for i in changed):
            self.on_change()
        return report

    def _update(self, progress: ProgressCallback) -> IndexReport:
        records, files, report = self.records(), self.sources.scan(), IndexReport()
        for gone in sorted(set(records) - set(files)):
            self._remove(gone)
            report.removed.append(gone)
        pending: list[tuple[ParsedDocument, list[Passage], str]] = []
        for doc_id, path in files.items():
            digest = fingerprint(path)
            if doc_id in records and records[doc_id].sha256 == digest:
                report.unchanged += 1
                continue
            try:
                parsed = parse_document(path, doc_id)
            except UnreadableDocument as exc:
                report.failed[doc_id] = str(exc)
                logger.warning("Skipping %s: %s", doc_id, exc)
                continue
            pending.append((parsed, chunk_document(parsed, self.embedder), digest))
        total = sum(len(c) for _, c, _ in pending)
        done = 0
        progress(IndexProgress(0, len(pending), 0, total, ""))
        for number, (parsed, chunks, digest) in enumerate(pending):
            if self._stop.is_set():
                break

            def embedded(
                count: int, number: int = number, before: int = done, document_id: str = parsed.document_id
            ) -> None:
                progress(IndexProgress(number, len(pending), before + count, total, document_id))

            self._replace(parsed, chunks, digest, embedded)
            done += len(chunks)
            (report.updated if parsed.document_id in records else report.added).append(parsed.document_id)
        report.chunks_embedded = done
        progress(IndexProgress(len(pending), len(pending), done, total, ""))
        return report

    def _replace(
        self, parsed: ParsedDocument, chunks: list[Passage], digest: str, embedded: Callable[[int], None]
    ) -> None:
        """Store one document's chunks, the vectors of the units a search can quote from them, and its record,
        in place of what was stored for it."""
        chunks_col, docs_col = self.collections()
        chunks_col.delete(where={"document_id": parsed.document_id})
        self.units.remove(parsed.document_id)
        seen: dict[str, None] = {}  # neighbouring passages share most of their units
        stored = 0
        for start in range(0, len(chunks), _EMBED_BATCH):
            end = min(start + _EMBED_BATCH, len(chunks))
            self._add(chunks_col, parsed, chunks[start:end])
            seen.update(dict.fromkeys(searchable_units(parsed.title, chunks, start, end)))
            if len(seen) - stored >= UNIT_BATCH or end == len(chunks):
                self.units.add(parsed.document_id, list(seen)[stored:])
                stored = len(seen)
            embedded(end)
        docs_col.upsert(
            ids=[parsed.document_id],
            embeddings=[[1.0]],  # records need a vector; search never uses this collection's
            metadatas=[record(parsed, len(chunks), digest, terms(parsed, self.embedder))],
        )

    def _add(self, collection: Any, parsed: ParsedDocument, chunks: list[Passage]) -> None:
        """Embed `parsed`'s `chunks` and add them, with their document's title and author, to `collection`."""
        vectors = self.embedder.embed([c.text for c in chunks])
        collection.add(
            ids=[c.chunk_id for c in chunks],
            embeddings=vectors,
            documents=[c.text for c in chunks],
            metadatas=[
                {
                    "document_id": c.document_id,
                    "title": parsed.title,
                    "author": parsed.author,
                    "heading": c.heading,
                    "char_start": c.char_start,
                    "char_end": c.char_end,
                }
                for c in chunks
            ],
        )

    def _remove(self, document_id: str) -> None:
        chunks_col, docs_col = self.collections()
        chunks_col.delete(where={"document_id": document_id})
        self.units.remove(document_id)
        docs_col.delete(ids=[document_id])

    def refresh(self, names: list[str]) -> None:
        """Workspace files `names` (workspace paths) were written, created or deleted: index them again
        at the next `catch_up`. Cheap; the work happens in the next query's thread."""
        if self.sources.workspace_dir is not None and names:
            with self._stale_lock:
                self._stale |= {workspace_id(name) for name in names}

    def catch_up(self) -> None:
        """Index the workspace notes written since the last call (skipped while a full index run holds the
        lock; they stay pending)."""
        with self._stale_lock:
            stale, self._stale = self._stale, set()
        if not stale:
            return
        if not self._index_lock.acquire(blocking=False):
            with self._stale_lock:
                self._stale |= stale
            return
        try:
            records, files = self.records(), self.sources.scan("workspace")
            for document_id in sorted(stale):
                path = files.get(document_id)
                if path is None:
                    if document_id in records:
                        self._remove(document_id)
                    continue
                digest = fingerprint(path)
                if document_id in records and records[document_id].sha256 == digest:
                    continue
                try:
                    parsed = parse_document(path, document_id)
                except UnreadableDocument as exc:
                    logger.warning("Skipping %s: %s", document_id, exc)
                    continue
                self._replace(parsed, chunk_document(parsed, self.embedder), digest, lambda _n: None)
            with self._keywords_lock:
                self._keywords.pop("workspace", None)
        finally:
            self._index_lock.release()

    def is_stale(self) -> bool:
        """True if any library file is new, changed or deleted since the last index (or it is empty)."""
        records, files = self.records(), self.sources.scan()
        if set(records) != set(files) or not records:
            return True
        return any(fingerprint(p) != records[i].sha256 for i, p in files.items())

    def start_background_update(self) -> threading.Thread | None:
        """`update` in a daemon thread if the index is stale or empty; returns the thread, or None if current.

        An index built with another model is left alone (logged): the tools report the reindex fix.
        """
        try:
            if not self.is_stale():
                return None
        except IndexMismatch as exc:
            logger.warning("Not indexing in the background: %s", exc)
            return None
        self._thread = threading.Thread(target=self._background_update, name="library-index", daemon=True)
        self._thread.start()
        return self._thread

    def _background_update(self) -> None:
        try:
            self.update()
            self.prepare_search()
        except Exception:  # boundary: a thread's failure must be logged, not lost
            logger.exception("Background library indexing failed")

    @property
    def indexing(self) -> bool:
        """True while an index run is in progress."""
        return self._index_lock.locked()

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop a background index run after its current batch and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    # -- keyword indexes --------------------------------------------------------------------------

    def prepare_search(self) -> None:
        """Build the in-memory keyword indexes now (about 1 s per 10,000 chunks) instead of at the first search."""
        self.keyword_index("library")
        self.keyword_index("workspace")

    def keyword_index(self, source: Source) -> KeywordIndex:
        """The BM25 index over one source's stored chunks, built on first use after each change to it."""
        with self._keywords_lock:
            if source not in self._keywords:
                chunks_col, _ = self.collections()
                self._keywords[source] = KeywordIndex.of_chunks(chunks_col, lambda m: source_of(m) == source)
            return self._keywords[source]
