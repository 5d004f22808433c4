"""The document library: incremental Chroma index of `library/` and the workspace notes, and the searches
the tools expose.

Vectors always come from the `Embedder` passed in; Chroma's default embedding function is never used.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings

from mcp_server.chunking import Chunk, chunk_document, split_sentences
from mcp_server.citations import Answer, AnswerHint, Hit, Passage
from mcp_server.documents import ParsedDocument, UnreadableDocument, parse_document
from mcp_server.embedder import Embedder
from mcp_server.keyword_index import KeywordIndex, keyword_text
from mcp_server.ranking import cite, distinct, fuse, neighbour_ids, stored_span, widen
from mcp_server.records import (
    MAX_READ_CHARS,
    DocumentInfo,
    EmptyLibrary,
    EmptyQuery,
    IndexMismatch,
    IndexProgress,
    IndexReport,
    ProgressCallback,
    UnknownDocument,
    fingerprint,
    record,
)
from mcp_server.sources import Source, Sources, closest, source_of, workspace_id

logger = logging.getLogger(__name__)

"""Longest text one `read_passage` call returns."""
_EMBED_BATCH = 64


class Library:
    """Index and search the documents under `library_dir`.

    Args:
        library_dir: folder of .md/.txt/.pdf/.epub files (document ids are paths relative to it).
        index_dir: folder of the embedded Chroma store (ignored when `chroma_host` is given).
        embedder: the model that embeds chunks and queries.
        workspace_dir: the user's markdown workspace, indexed too (ids "workspace:<path>"; see `sources`).
        chroma_host: use the Chroma server at this host instead of the embedded store.
        chroma_port: port of that server.
        collection: prefix of the two Chroma collection names.
        semantic_weight: weight of the embedding ranking against the keyword ranking (1.0) in search.
    """

    def __init__(
        self,
        library_dir: Path,
        index_dir: Path,
        embedder: Embedder,
        *,
        chroma_host: str | None = None,
        chroma_port: int = 8000,
        collection: str = "library",
        semantic_weight: float = 1.0,
        workspace_dir: Path | None = None,
    ):
        self.library_dir, self.embedder = Path(library_dir), embedder
        self.sources = Sources(self.library_dir, Path(workspace_dir) if workspace_dir is not None else None)
        self.on_change: Callable[[], None] | None = None
        """Called (in the indexing thread) after an index run changed the library's documents (not the
        workspace's): the catalogue of documents changed."""
        settings = Settings(anonymized_telemetry=False)
        if chroma_host:
            self._client = chromadb.HttpClient(host=chroma_host, port=chroma_port, settings=settings)
        else:
            Path(index_dir).mkdir(parents=True, exist_ok=True)
            self._client = chromadb.PersistentClient(path=str(index_dir), settings=settings)
        self._names = (f"{collection}-chunks", f"{collection}-documents")
        self.semantic_weight = semantic_weight
        """Weight of the embedding ranking against BM25's (1.0) when fusing ranks; 0 = keywords only."""
        self._index_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._parsed: dict[tuple[str, int, int], ParsedDocument] = {}
        self._opened: tuple[Any, Any] | None = None
        self._keywords: dict[Source, KeywordIndex] = {}
        self._keywords_lock = threading.Lock()
        self._stale: set[str] = set()  # workspace document ids written since their last indexing
        self._stale_lock = threading.Lock()

    # -- collections ------------------------------------------------------------------------------

    def _collections(self) -> tuple[Any, Any]:
        """(chunks, documents) collections, created if missing; raises IndexMismatch on another model."""
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
        self._opened = (chunks, documents)
        return self._opened

    def _records(self) -> dict[str, DocumentInfo]:
        got = self._collections()[1].get(include=["metadatas"])
        return {i: DocumentInfo(document_id=i, **m) for i, m in zip(got["ids"], got["metadatas"], strict=True)}

    # -- indexing ---------------------------------------------------------------------------------

    def scan(self) -> dict[str, Path]:
        """Every document: id -> path (library files, then workspace notes; hidden files skipped)."""
        return self.sources.scan()

    def index(self, progress: ProgressCallback | None = None, rebuild: bool = False) -> IndexReport:
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
            report = self._index(progress or (lambda _p: None))
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

    def _index(self, progress: ProgressCallback) -> IndexReport:
        records, files, report = self._records(), self.scan(), IndexReport()
        for gone in sorted(set(records) - set(files)):
            self._remove(gone)
            report.removed.append(gone)
        pending: list[tuple[ParsedDocument, list[Chunk], str]] = []
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
        self, parsed: ParsedDocument, chunks: list[Chunk], digest: str, embedded: Callable[[int], None]
    ) -> None:
        """Store one document's chunks and record in place of what was stored for it."""
        chunks_col, docs_col = self._collections()
        chunks_col.delete(where={"document_id": parsed.document_id})
        for start in range(0, len(chunks), _EMBED_BATCH):
            self._store(chunks_col, chunks[start : start + _EMBED_BATCH])
            embedded(min(start + _EMBED_BATCH, len(chunks)))
        docs_col.upsert(
            ids=[parsed.document_id],
            embeddings=[[1.0]],  # records need a vector; search never uses this collection's
            metadatas=[record(parsed, len(chunks), digest)],
        )

    def _remove(self, document_id: str) -> None:
        chunks_col, docs_col = self._collections()
        chunks_col.delete(where={"document_id": document_id})
        docs_col.delete(ids=[document_id])

    def refresh(self, names: list[str]) -> None:
        """Workspace files `names` (workspace paths) were written, created or deleted: index them again
        before the next query. Cheap; the work happens in the next query's thread."""
        if self.sources.workspace_dir is not None and names:
            with self._stale_lock:
                self._stale |= {workspace_id(name) for name in names}

    def _catch_up(self) -> None:
        """Index the workspace notes written since the last query (skipped while a full index run holds
        the lock; they stay pending)."""
        with self._stale_lock:
            stale, self._stale = self._stale, set()
        if not stale:
            return
        if not self._index_lock.acquire(blocking=False):
            with self._stale_lock:
                self._stale |= stale
            return
        try:
            records, files = self._records(), self.sources.scan("workspace")
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

    def _store(self, collection: Any, chunks: list[Chunk]) -> None:
        vectors = self.embedder.embed([c.text for c in chunks])
        collection.add(
            ids=[f"{c.document_id}::{c.index}" for c in chunks],
            embeddings=vectors,
            documents=[c.text for c in chunks],
            metadatas=[
                {
                    "document_id": c.document_id,
                    "title": c.title,
                    "author": c.author,
                    "heading": c.heading,
                    "char_start": c.char_start,
                    "char_end": c.char_end,
                }
                for c in chunks
            ],
        )

    def is_stale(self) -> bool:
        """True if any library file is new, changed or deleted since the last index (or it is empty)."""
        records, files = self._records(), self.scan()
        if set(records) != set(files) or not records:
            return True
        return any(fingerprint(p) != records[i].sha256 for i, p in files.items())

    def start_background_index(self) -> threading.Thread | None:
        """Index in a daemon thread if the index is stale or empty; returns the thread, or None if current.

        Searches keep working (on what is indexed so far) while it runs; `close()` stops it between batches.
        An index built with another model is left alone (logged): the tools report the reindex fix.
        """
        try:
            if not self.is_stale():
                return None
        except IndexMismatch as exc:
            logger.warning("Not indexing in the background: %s", exc)
            return None
        self._thread = threading.Thread(target=self._background_index, name="library-index", daemon=True)
        self._thread.start()
        return self._thread

    def _background_index(self) -> None:
        try:
            self.index()
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

    # -- queries ----------------------------------------------------------------------------------

    def list_documents(self) -> list[DocumentInfo]:
        """Indexed documents (library files, then workspace notes), sorted by id."""
        self._catch_up()
        return sorted(self._records().values(), key=lambda d: (d.source != "library", d.document_id))

    def catalogue(self) -> list[DocumentInfo]:
        """The library's documents (not the workspace's notes, which change at every write), by id."""
        return [d for d in self.list_documents() if d.source == "library"]

    def closest(self, name: str, limit: int = 3) -> list[DocumentInfo]:
        """Indexed documents whose id or title looks most like `name` (e.g. "budget_notes.md"), best first."""
        documents = {d.document_id: d for d in self.list_documents()}
        keys = closest(name, {i: f"{i} {d.title}" for i, d in documents.items()}, limit)
        return [documents[k] for k in keys]

    def search(self, query: str, top_k: int = 5, document_id: str | None = None) -> list[Hit]:
        """Passages that best answer `query`: list of `Hit`, best first, at most `top_k`, none overlapping.

        Ranking fuses BM25 keyword ranks with embedding ranks (reciprocal rank fusion), so both exact words
        and paraphrases are found; each matched chunk is widened with its neighbours' text (`ranking.widen`).
        Each hit's `score` is the matched chunk's cosine similarity (higher = closer in meaning).

        Raises:
            EmptyQuery: if `query` is blank.
            UnknownDocument: if `document_id` is given and not indexed.
            IndexMismatch: if the index was built with another model.
            EmptyLibrary: if nothing is indexed yet.
        """
        self._catch_up()
        chunks_col = self._searchable(query, document_id)
        vector = self.embedder.embed([query])
        pool = max(20, 4 * top_k)  # each ranking's candidates; fused by reciprocal rank
        got = chunks_col.query(
            query_embeddings=vector,
            n_results=pool,
            where={"document_id": document_id} if document_id else None,
            include=["documents", "metadatas", "distances"],
        )
        rows = {i: (t, m, 1.0 - float(d)) for i, t, m, d in zip(*(got[f][0] for f in _QUERY_FIELDS), strict=True)}
        keyword = [self._keyword_index(s).search(query, pool, document_id) for s in ("library", "workspace")]
        # each source's BM25 ranks its own chunks (its scores are not comparable with the other's), so each
        # chunk still gets one keyword vote and one meaning vote
        ranked = fuse([(keyword[0], 1.0), (keyword[1], 1.0), (list(rows), self.semantic_weight)])[: 3 * top_k]
        wanted = {*ranked, *(n for i in ranked for n in neighbour_ids(i))} - rows.keys()
        if wanted:
            extra = chunks_col.get(ids=sorted(wanted), include=["documents", "metadatas", "embeddings"])
            for i, t, m, e in zip(*(extra[f] for f in ("ids", "documents", "metadatas", "embeddings")), strict=True):
                rows[i] = (t, m, float(np.dot(np.asarray(e, dtype=np.float32), vector[0])))
        spans = {i: stored_span(i, text, meta) for i, (text, meta, _) in rows.items()}
        widened = (widen(spans[i], *(spans.get(n) for n in neighbour_ids(i))) for i in ranked if i in spans)
        return [cite(passage, *rows[passage.chunk_id][1:]) for passage in distinct(widened, top_k)]

    def _searchable(self, query: str, document_id: str | None) -> Any:
        """The chunks collection, after checking that `query` and `document_id` can be searched (see `search`)."""
        if not query.strip():
            raise EmptyQuery("The query is empty: say what to look for, e.g. 'what Thoreau says about simplicity'.")
        chunks_col, _ = self._collections()
        if chunks_col.count() == 0:
            raise EmptyLibrary(
                "The library is still being indexed; try again in a minute."
                if self.indexing
                else f"The library index is empty: add .md/.txt/.pdf/.epub files to {self.library_dir} "
                "and call index_library."
            )
        if document_id is not None:
            self._require(document_id)
        return chunks_col

    def prepare_search(self) -> None:
        """Build the in-memory keyword indexes now (about 1 s per 10,000 chunks) instead of at the first search."""
        self._keyword_index("library")
        self._keyword_index("workspace")

    def _keyword_index(self, source: Source) -> KeywordIndex:
        """The BM25 index over one source's stored chunks, built on first use after each change to it."""
        with self._keywords_lock:
            if source not in self._keywords:
                chunks_col, _ = self._collections()
                ids, texts, groups = [], [], []
                for offset in range(0, chunks_col.count(), 5000):
                    page = chunks_col.get(include=["documents", "metadatas"], limit=5000, offset=offset)
                    for i, t, m in zip(page["ids"], page["documents"], page["metadatas"], strict=True):
                        if source_of(str(m["document_id"])) != source:
                            continue
                        ids.append(i)
                        texts.append(keyword_text(t, str(m["title"]), str(m.get("author", "")), str(m["heading"])))
                        groups.append(str(m["document_id"]))
                self._keywords[source] = KeywordIndex(ids, texts, groups)
            return self._keywords[source]

    def ask(self, document_id: str, question: str, top_k: int = 3) -> Answer:
        """Passages of one document that answer `question`, best first, and the best-matching sentence.

        The hint is a sentence quoted from those passages, never generated text. Raises as `search`.
        """
        hits = self.search(question, top_k=top_k, document_id=document_id)
        sentences = [s for hit in hits for s in split_sentences(hit.passage, hit.char_start)]
        if not sentences:
            return Answer(question, None, hits)
        vectors = self.embedder.embed([question] + [text for text, _, _ in sentences])
        scores = vectors[1:] @ vectors[0]
        best = int(np.argmax(scores))
        text, start, end = sentences[best]
        hint = AnswerHint(" ".join(text.split()), document_id, start, end, round(float(scores[best]), 4))
        return Answer(question, hint, hits)

    def read_passage(self, document_id: str, char_start: int = 0, length: int = 1500) -> Passage:
        """Text of a document from `char_start`, at most `length` (capped at MAX_READ_CHARS) characters.

        Raises:
            UnknownDocument: if the id is not in the library.
            ValueError: if `char_start` is past the end of the document.
        """
        parsed = self._parse(document_id)
        total = len(parsed.text)
        if not 0 <= char_start < max(total, 1):
            raise ValueError(f"char_start {char_start} is outside {document_id!r} (0 to {total - 1}).")
        end = min(total, char_start + max(1, min(length, MAX_READ_CHARS)))
        following = end if end < total else None
        return Passage(document_id, parsed.title, char_start, end, total, parsed.text[char_start:end], following)

    def _require(self, document_id: str) -> DocumentInfo:
        records = self._records()
        if document_id not in records:
            raise UnknownDocument(document_id, sorted(records))
        return records[document_id]

    def _parse(self, document_id: str) -> ParsedDocument:
        """Parse a document again (offsets refer to this text); a few recent parses are cached."""
        path = self.sources.path_of(document_id)
        if path is None:
            raise UnknownDocument(document_id, sorted(self.scan()))
        stat = path.stat()
        key = (document_id, stat.st_mtime_ns, stat.st_size)
        if key not in self._parsed:
            if len(self._parsed) >= 4:
                self._parsed.pop(next(iter(self._parsed)))
            self._parsed[key] = parse_document(path, document_id)
        return self._parsed[key]


_QUERY_FIELDS = ("ids", "documents", "metadatas", "distances")
