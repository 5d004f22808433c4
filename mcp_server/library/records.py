"""What the library keeps about each document and reports about indexing: records, progress, reports, errors.

Also the terminal progress bar of `python -m mcp_server index` and `demo.py`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mcp_server.library.citations import cut_at_word
from mcp_server.library.documents import INDEX_FORMAT, ParsedDocument
from mcp_server.library.sources import Source, source_of

if TYPE_CHECKING:
    from mcp_server.library.search import Library

MAX_READ_CHARS = 4000
"""The most characters `read_passage` returns at once."""


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
    summary: str = ""
    """The document's first sentence or line after its title, cut to about 90 characters."""

    @property
    def source(self) -> Source:
        """ "library" or "workspace"."""
        return source_of(self.document_id)

    @classmethod
    def stored(cls, document_id: str, metadata: dict[str, Any]) -> DocumentInfo:
        """The record the store keeps as `metadata` (see `record`; what is kept beyond these fields is left out)."""
        return cls(document_id=document_id, **{k: v for k, v in metadata.items() if k in _FIELDS})


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
_FIELDS = frozenset(f.name for f in dataclasses.fields(DocumentInfo))


def fingerprint(path: Path) -> str:
    """sha256 hex of the file's bytes and `INDEX_FORMAT`: equal means the stored chunks are current."""
    return hashlib.sha256(INDEX_FORMAT.encode() + b"\0" + path.read_bytes()).hexdigest()


def record(parsed: ParsedDocument, chunks: int, digest: str, terms: list[tuple[str, float]]) -> dict[str, Any]:
    """The metadata stored for one indexed document: the fields of `DocumentInfo` but its id, and `terms` (the
    words speech-to-text should expect, weighed: `vocabulary.terms`) as JSON."""
    indexed_at = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "title": parsed.title,
        "format": parsed.format,
        "chunks": chunks,
        "indexed_at": indexed_at,
        "sha256": digest,
        "summary": _summary(parsed),
        "terms": json.dumps(terms, ensure_ascii=False),
    }


def stored_terms(metadata: dict[str, Any]) -> list[tuple[str, float]]:
    """The `terms` a record keeps (none in an index built before they were kept)."""
    return [(str(term), float(weight)) for term, weight in json.loads(str(metadata.get("terms") or "[]"))]


def _summary(parsed: ParsedDocument, max_chars: int = 90) -> str:
    """The first sentence or line after the title, cut at a word to about `max_chars`."""
    from mcp_server.library.evidence import units  # numpy: not needed to list the library's tools

    for unit in units(parsed.text[:2000]):
        text = unit.text
        if text.strip().lower() != parsed.title.strip().lower():
            return cut_at_word(text, max_chars)
    return ""


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
