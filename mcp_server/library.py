"""The document library: incremental Chroma index of `library/` and the searches the tools expose.

Vectors always come from the `Embedder` passed in; Chroma's default embedding function is never used.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings

from mcp_server.chunking import Chunk, chunk_document, split_sentences
from mcp_server.citations import Answer, AnswerHint, Hit, Passage
from mcp_server.documents import INDEX_FORMAT, SUPPORTED_SUFFIXES, ParsedDocument, UnreadableDocument, parse_document
from mcp_server.embedder import Embedder
from mcp_server.keyword_index import KeywordIndex, keyword_text
from mcp_server.ranking import cite, distinct, fuse, neighbour_ids, stored_span, widen

logger = logging.getLogger(__name__)

MAX_READ_CHARS = 4000
"""Longest text one `read_passage` call returns."""
_EMBED_BATCH = 64


class UnknownDocument(LookupError):
    """No indexed document has this id."""

    def __init__(self, document_id: str, available: list[str]):
        self.document_id, self.available = document_id, available
        listed = ", ".join(available[:20]) + (" ..." if len(available) > 20 else "")
        super().__init__(
            f"No document {document_id!r} in the library. Available ids: {listed or 'none (library empty)'}. "
            "Call list_documents for titles."
        )


class EmptyQuery(ValueError):
    """A search or question was blank."""


class EmptyLibrary(LookupError):
    """Nothing is indexed yet (the library folder is empty, or the first index run is still going)."""


class IndexMismatch(ValueError):
    """The stored index was built with another embedding model or dimension."""


@dataclass(frozen=True)
class DocumentInfo:
    """One indexed document."""

    document_id: str
    title: str
    format: str
    chunks: int
    indexed_at: str
    """ISO 8601 UTC."""
    sha256: str


@dataclass(frozen=True)
class IndexProgress:
    """Snapshot passed to the progress callback while indexing."""

    documents_done: int
    documents_total: int
    chunks_done: int
    chunks_total: int
    """Chunks to embed in this run (known once all changed documents are chunked)."""
    document_id: str
    """Document being worked on ("" at start and end)."""


@dataclass
class IndexReport:
    """What one indexing run changed."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    """document id -> reason; failed files are skipped and retried on the next run."""
    chunks_embedded: int = 0
    seconds: float = 0.0


ProgressCallback = Callable[[IndexProgress], None]


class Library:
    """Index and search the documents under `library_dir`.

    Args:
        library_dir: folder of .md/.txt/.pdf/.epub files (document ids are paths relative to it).
        index_dir: folder of the embedded Chroma store (ignored when `chroma_host` is given).
        embedder: the model that embeds chunks and queries.
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
    ):
        self.library_dir, self.embedder = Path(library_dir), embedder
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
        self._keywords: KeywordIndex | None = None
        self._keywords_lock = threading.Lock()

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
        """Supported files under the library folder: document id -> path (hidden files skipped)."""
        if not self.library_dir.is_dir():
            return {}
        return {
            p.relative_to(self.library_dir).as_posix(): p
            for p in sorted(self.library_dir.rglob("*"))
            if p.suffix.lower() in SUPPORTED_SUFFIXES
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(self.library_dir).parts)
        }

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
            if report.added or report.updated or report.removed or rebuild:
                self._keywords = None
            report.seconds = time.perf_counter() - started
            logger.info(
                "Indexed library: %d added, %d updated, %d removed, %d unchanged, %d failed, %d chunks in %.1f s",
                *(len(report.added), len(report.updated), len(report.removed)),
                *(report.unchanged, len(report.failed), report.chunks_embedded, report.seconds),
            )
            return report

    def _index(self, progress: ProgressCallback) -> IndexReport:
        chunks_col, docs_col = self._collections()
        records, files, report = self._records(), self.scan(), IndexReport()
        for gone in sorted(set(records) - set(files)):
            chunks_col.delete(where={"document_id": gone})
            docs_col.delete(ids=[gone])
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
            chunks_col.delete(where={"document_id": parsed.document_id})
            for start in range(0, len(chunks), _EMBED_BATCH):
                self._store(chunks_col, chunks[start : start + _EMBED_BATCH])
                done += len(chunks[start : start + _EMBED_BATCH])
                progress(IndexProgress(number, len(pending), done, total, parsed.document_id))
            (report.updated if parsed.document_id in records else report.added).append(parsed.document_id)
            docs_col.upsert(
                ids=[parsed.document_id],
                embeddings=[[1.0]],  # records need a vector; search never uses this collection's
                metadatas=[_record(parsed, len(chunks), digest)],
            )
        report.chunks_embedded = done
        progress(IndexProgress(len(pending), len(pending), done, total, ""))
        return report

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
        """Indexed documents, sorted by id."""
        return sorted(self._records().values(), key=lambda d: d.document_id)

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
        keyword = self._keyword_index().search(query, pool, document_id)
        ranked = fuse([(keyword, 1.0), (list(rows), self.semantic_weight)])[: 3 * top_k]
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
        """Build the in-memory keyword index now (about 1 s per 10,000 chunks) instead of at the first search."""
        self._keyword_index()

    def _keyword_index(self) -> KeywordIndex:
        """The BM25 index over every stored chunk, built on first use after each index change."""
        with self._keywords_lock:
            if self._keywords is None:
                chunks_col, _ = self._collections()
                ids, texts, groups = [], [], []
                for offset in range(0, chunks_col.count(), 5000):
                    page = chunks_col.get(include=["documents", "metadatas"], limit=5000, offset=offset)
                    ids += page["ids"]
                    texts += [
                        keyword_text(t, str(m["title"]), str(m.get("author", "")), str(m["heading"]))
                        for t, m in zip(page["documents"], page["metadatas"], strict=True)
                    ]
                    groups += [str(m["document_id"]) for m in page["metadatas"]]
                self._keywords = KeywordIndex(ids, texts, groups)
            return self._keywords

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
        """Parse a library file again (offsets refer to this text); a few recent parses are cached."""
        path = self.scan().get(document_id)
        if path is None:
            raise UnknownDocument(document_id, sorted(self.scan()))
        stat = path.stat()
        key = (document_id, stat.st_mtime_ns, stat.st_size)
        if key not in self._parsed:
            if len(self._parsed) >= 4:
                self._parsed.pop(next(iter(self._parsed)))
            self._parsed[key] = parse_document(path, document_id)
        return self._parsed[key]


def fingerprint(path: Path) -> str:
    """sha256 hex of the file's bytes and `INDEX_FORMAT`: equal means the stored chunks are current."""
    return hashlib.sha256(INDEX_FORMAT.encode() + b"\0" + path.read_bytes()).hexdigest()


def _record(parsed: ParsedDocument, chunks: int, digest: str) -> dict[str, Any]:
    indexed_at = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "title": parsed.title,
        "format": parsed.format,
        "chunks": chunks,
        "indexed_at": indexed_at,
        "sha256": digest,
    }


_QUERY_FIELDS = ("ids", "documents", "metadatas", "distances")


def index_with_progress(library: Library, rebuild: bool = False) -> IndexReport:
    """Index `library` in the foreground with a rich progress bar on stderr (documents, chunks, chunks/s, ETA)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("chunks · {task.fields[documents]} documents · {task.fields[rate]:.1f} chunks/s · ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("Indexing", total=None, documents="0/0", rate=0.0)
        started = time.perf_counter()

        def show(p: IndexProgress) -> None:
            rate = p.chunks_done / max(time.perf_counter() - started, 1e-6)
            documents = f"{p.documents_done}/{p.documents_total}"
            bar.update(task, completed=p.chunks_done, total=p.chunks_total, documents=documents, rate=rate)

        report = library.index(show, rebuild=rebuild)
    console.print(
        f"Library indexed in {report.seconds:.1f} s: {len(report.added)} added, {len(report.updated)} updated, "
        f"{len(report.removed)} removed, {report.unchanged} unchanged, {len(report.failed)} failed "
        f"({report.chunks_embedded} chunks embedded)."
    )
    for document_id, reason in report.failed.items():
        console.print(f"[yellow]skipped {document_id}: {reason}")
    return report
