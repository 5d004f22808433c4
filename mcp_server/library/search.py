"""The document library: the searches the tools expose (search, ask, read, list) over a `Store` of the
user's documents, `library/` and the workspace notes.

A search fuses each source's keyword (BM25) ranking with the embedding ranking (reciprocal rank fusion)
and cites the best chunks, widened with their neighbours' text; see `ranking.py`. `search_with_evidence` also
picks the sentences of those passages the model reads (`evidence.py`), from vectors stored at index time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from mcp_server.library.citations import Answer, AnswerHint, Evidence, Reading, SearchHit
from mcp_server.library.documents import ParsedDocument, parse_document
from mcp_server.library.embedder import Embedder
from mcp_server.library.evidence import gather
from mcp_server.library.passages import split_sentences
from mcp_server.library.ranking import cite, distinct, fuse, neighbour_ids, stored_passage, widen
from mcp_server.library.records import (
    MAX_READ_CHARS,
    DocumentInfo,
    EmptyLibrary,
    EmptyQuery,
    IndexReport,
    ProgressCallback,
    UnknownDocument,
)
from mcp_server.library.sources import Sources, closest
from mcp_server.library.store import Store
from mcp_server.library.vocabulary import vocabulary


class Library:
    """Index and search the documents under `library_dir` (and, when given, the workspace's notes).

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
        self.store = Store(
            self.sources, index_dir, embedder, chroma_host=chroma_host, chroma_port=chroma_port, collection=collection
        )
        self.semantic_weight = semantic_weight
        """Weight of the embedding ranking against BM25's (1.0) when fusing ranks; 0 = keywords only."""
        self._parsed: dict[tuple[str, int, int], ParsedDocument] = {}

    # -- indexing (the store does it) -------------------------------------------------------------

    @property
    def on_change(self) -> Callable[[], None] | None:
        """Called (in the indexing thread) after an index run changed the library's documents (not the
        workspace's): the catalogue of documents changed."""
        return self.store.on_change

    @on_change.setter
    def on_change(self, callback: Callable[[], None] | None) -> None:
        self.store.on_change = callback

    def scan(self) -> dict[str, Path]:
        """Every document: id -> path (library files, then workspace notes; hidden files skipped)."""
        return self.sources.scan()

    def index(self, progress: ProgressCallback | None = None, rebuild: bool = False) -> IndexReport:
        """Bring the index up to date (blocking; see `Store.update`)."""
        return self.store.update(progress, rebuild)

    def is_stale(self) -> bool:
        """True if any library file is new, changed or deleted since the last index (or it is empty)."""
        return self.store.is_stale()

    def start_background_index(self) -> threading.Thread | None:
        """Index in a daemon thread if the index is stale or empty; returns the thread, or None if current.
        Searches keep working (on what is indexed so far) while it runs; `close()` stops it between batches."""
        return self.store.start_background_update()

    @property
    def indexing(self) -> bool:
        """True while an index run is in progress."""
        return self.store.indexing

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop a background index run after its current batch and wait for it."""
        self.store.close(timeout_s)

    def refresh(self, names: list[str]) -> None:
        """Workspace files `names` (workspace paths) were written, created or deleted: index them again
        before the next query."""
        self.store.refresh(names)

    def prepare_search(self) -> None:
        """Build the in-memory keyword indexes now instead of at the first search."""
        self.store.prepare_search()

    # -- queries ----------------------------------------------------------------------------------

    def list_documents(self) -> list[DocumentInfo]:
        """Indexed documents (library files, then workspace notes), sorted by id."""
        self.store.catch_up()
        return sorted(self.store.records().values(), key=lambda d: (d.source != "library", d.document_id))

    def catalogue(self) -> list[DocumentInfo]:
        """The library's documents (not the workspace's notes, which change at every write), by id."""
        return [d for d in self.list_documents() if d.source == "library"]

    def vocabulary(self, max_chars: int) -> list[str]:
        """What a user is likely to say about the library, for speech-to-text: its documents' titles, then their
        authors, names and rare words, the most useful first, in at most `max_chars` characters (`vocabulary.py`)."""
        terms = self.store.terms()
        return vocabulary([(d.title, terms.get(d.document_id, [])) for d in self.catalogue()], max_chars)

    def closest(self, name: str, limit: int = 3) -> list[DocumentInfo]:
        """Indexed documents whose id or title looks most like `name` (e.g. "budget_notes.md"), best first."""
        documents = {d.document_id: d for d in self.list_documents()}
        keys = closest(name, {i: f"{i} {d.title}" for i, d in documents.items()}, limit)
        return [documents[k] for k in keys]

    def search(self, query: str, top_k: int = 5, document_id: str | None = None) -> list[SearchHit]:
        """Passages that best answer `query`: list of `SearchHit`, best first, at most `top_k`, none overlapping.

        Ranking fuses BM25 keyword ranks with embedding ranks (reciprocal rank fusion, `ranking.fuse`), so both
        exact words and paraphrases are found; each matched chunk is widened with its neighbours' text
        (`ranking.widen`). Each hit's `score` is that fused score: higher is better, and the hits come in its
        order.

        Raises:
            EmptyQuery: if `query` is blank.
            UnknownDocument: if `document_id` is given and not indexed.
            IndexMismatch: if the index was built with another model.
            EmptyLibrary: if nothing is indexed yet.
        """
        return self._search(query, top_k, document_id)[0]

    def search_with_evidence(
        self, query: str, top_k: int = 5, document_id: str | None = None
    ) -> tuple[list[SearchHit], list[Evidence]]:
        """`search`, and the few sentences of its hits that answer `query` (`evidence.gather`: best last), chosen
        with the query's vector from the search and the units' vectors stored at index time. Raises as `search`."""
        hits, vector = self._search(query, top_k, document_id)
        return hits, gather(query, hits, self.embedder, stored=self.store.units, question_vector=vector)

    def _search(
        self, query: str, top_k: int, document_id: str | None
    ) -> tuple[list[SearchHit], npt.NDArray[np.float32]]:
        """`search`'s hits, and the query's vector (shape (dimension,))."""
        self.store.catch_up()
        chunks_col = self._searchable(query, document_id)
        pool = max(20, 4 * top_k)  # each ranking's candidates; fused by reciprocal rank
        vector = self.embedder.embed([query])
        got = chunks_col.query(
            query_embeddings=vector,
            n_results=pool,
            where={"document_id": document_id} if document_id else None,
            include=["documents", "metadatas"],
        )
        rows = {i: (t, m) for i, t, m in zip(got["ids"][0], got["documents"][0], got["metadatas"][0], strict=True)}
        keyword = [self.store.keyword_index(s).search(query, pool, document_id) for s in ("library", "workspace")]
        # each source's BM25 ranks its own chunks (its scores are not comparable with the other's), so each
        # chunk still gets one keyword vote and one meaning vote
        fused = fuse([(keyword[0], 1.0), (keyword[1], 1.0), (list(rows), self.semantic_weight)])
        ranked = list(fused)[: 3 * top_k]
        wanted = {*ranked, *(n for i in ranked for n in neighbour_ids(i))} - rows.keys()
        if wanted:
            extra = chunks_col.get(ids=sorted(wanted), include=["documents", "metadatas"])
            rows |= {i: (t, m) for i, t, m in zip(extra["ids"], extra["documents"], extra["metadatas"], strict=True)}
        passages = {i: stored_passage(i, text, meta) for i, (text, meta) in rows.items()}
        widened = (widen(passages[i], *(passages.get(n) for n in neighbour_ids(i))) for i in ranked if i in passages)
        hits = [
            cite(passage, str(rows[passage.chunk_id][1]["title"]), fused[passage.chunk_id])
            for passage in distinct(widened, top_k)
        ]
        return hits, vector[0]

    def _searchable(self, query: str, document_id: str | None) -> Any:
        """The chunks collection, after checking that `query` and `document_id` can be searched (see `search`)."""
        if not query.strip():
            raise EmptyQuery("The query is empty: say what to look for, e.g. 'what Thoreau says about simplicity'.")
        chunks_col, _ = self.store.collections()
        if chunks_col.count() == 0:
            raise EmptyLibrary(
                "The library is still being indexed; try again in a minute."
                if self.indexing
                else f"The library index is empty: add .md/.txt/.pdf/.epub files to {self.library_dir} "
                "and call index_library."
            )
        if document_id is not None:
            records = self.store.records()
            if document_id not in records:
                raise UnknownDocument(document_id, sorted(records))
        return chunks_col

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

    def read_passage(self, document_id: str, char_start: int = 0, length: int = 1500) -> Reading:
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
        return Reading(document_id, parsed.title, char_start, end, total, parsed.text[char_start:end], following)

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
