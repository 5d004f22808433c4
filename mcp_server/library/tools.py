"""MCP tools over the user's documents (library and workspace notes): index, list, search, ask and read.

Wrappers only validate and translate errors; `Library` does the work, in worker threads (sync tools run in
threads under MCPServer v2; `index_library` uses `anyio.to_thread`), so other tools stay responsive.
`search_library` answers with evidence (the few sentences that bear on the question, `evidence.py`) as the
text the model reads, and everything else as structured content; its description carries the catalogue
of the library's documents (`search_description`), refreshed when the library changes.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Annotated

import anyio.from_thread
import anyio.to_thread
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field, TypeAdapter

from mcp_server.library.citations import Answer, Evidence, Reading, SearchHit
from mcp_server.library.loader import LibraryLoader, LibraryUnavailable
from mcp_server.library.records import (
    MAX_READ_CHARS,
    DocumentInfo,
    EmptyLibrary,
    EmptyQuery,
    IndexMismatch,
    IndexProgress,
    IndexReport,
    UnknownDocument,
)

if TYPE_CHECKING:
    from mcp_server.library.search import Library

DocumentId = Annotated[
    str, Field(description="Document id exactly as list_documents or a search hit gives it, e.g. 'walden.txt'")
]
Query = Annotated[str, Field(description="The user's question in their own words, or the topic they name")]
TopK = Annotated[int, Field(ge=1, le=20, description="How many passages to return, best first")]
CATALOGUE_SIZE = 25
"""Documents named in search_library's description; a bigger library says how many more there are."""
_SEARCH_USE = (
    "Use it whenever they ask about something of theirs (their notes, files, plans, lists or a document listed "
    "here); never answer that from memory. Returns the few sentences that bear on the question, each with its "
    "document's title: answer from them, with numbers and names as written, name the document, and say so "
    "when they do not hold the answer."
)


@dataclass(frozen=True)
class SearchResult:
    """What search_library returns: the evidence the model reads, and the passages it came from."""

    query: str
    evidence: list[Evidence]
    """Best last (read right before the question); the model's text is these lines (see `evidence.render`)."""
    hits: list[SearchHit]
    """Passages best first, in the order of their `score`: the fused keyword and meaning rank score."""


def search_description(catalogue: list[DocumentInfo] | None) -> str:
    """search_library's description. Its first sentence names the library's documents by title (a small model
    may read only that far); then what it is for, and one line per document (title, id, first sentence).
    `catalogue` None: the library is still opening (the server announces the full description when it is)."""
    opening, catalogue = catalogue is None, catalogue or []
    titles = "; ".join(d.title for d in catalogue[:CATALOGUE_SIZE])
    more = len(catalogue) - CATALOGUE_SIZE
    titles += f"; and {more} more" if more > 0 else ""
    library = f"their library ({titles})" if catalogue else "their library (empty)"
    if opening:
        library = "their library"
    first = (
        f"Search the user's own documents, {library} and their workspace notes, for the facts that answer a question."
    )
    lines = [f"- {d.title} ({d.document_id})" + (f": {d.summary}" if d.summary else "") for d in catalogue]
    listed = "\n".join(lines[:CATALOGUE_SIZE])
    return f"{first} {_SEARCH_USE}" + (f"\nLibrary:\n{listed}" if listed else "")


@contextlib.contextmanager
def _as_tool_errors() -> Iterator[None]:
    """Library errors become ToolErrors the model can act on (their messages name the fix)."""
    try:
        yield
    except (UnknownDocument, EmptyLibrary, EmptyQuery, IndexMismatch, LibraryUnavailable, ValueError) as exc:
        raise ToolError(str(exc)) from exc


def _opened(source: Library | LibraryLoader, ctx: Context) -> Library:
    """The library; while a loader is still opening it, wait, with a progress notification each second
    (in a worker thread: the tools run in threads).

    Raises:
        ToolError: the library could not be opened (the message says why).
    """
    if not isinstance(source, LibraryLoader):
        return source
    with _as_tool_errors():
        while (library := source.wait(1.0)) is None:
            waited = time.monotonic() - source.started_at
            message = f"Opening the document library (loading the embedding model, {waited:.0f} s so far)"
            anyio.from_thread.run(partial(ctx.report_progress, waited, None, message))
    return library


def register_library_tools(mcp: MCPServer, source: Library | LibraryLoader) -> None:
    """Add index_library, list_documents, search_library, search_document, ask_document and read_passage.

    With a `LibraryLoader` they are listed at once; a call waits for the library to open."""
    # the searches may index workspace notes written since the last query: the index is a cache of the
    # files, not something the user sees change, so they are read-only
    read_only = ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
    )
    # rebuild=true drops the index, but only to embed the same files again: derived data, nothing of the
    # user's is lost, and a second call with the same arguments leaves the same index
    reindex = ToolAnnotations(read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False)

    @mcp.tool(annotations=reindex)
    async def index_library(
        ctx: Context,
        rebuild: Annotated[
            bool, Field(description="True drops the whole index first; only when an error says to reindex")
        ] = False,
    ) -> IndexReport:
        """Update the search index after the user adds, changes or removes files in the library folder.

        New and changed files are embedded (can take minutes for whole books), unchanged ones skipped,
        deleted ones removed. Returns what changed. Searching works meanwhile on what is already indexed."""

        def report(p: IndexProgress) -> None:
            message = f"{p.documents_done}/{p.documents_total} documents, {p.chunks_done} chunks embedded"
            anyio.from_thread.run(partial(ctx.report_progress, p.chunks_done, p.chunks_total, message))

        library = await anyio.to_thread.run_sync(_opened, source, ctx)
        with _as_tool_errors():
            return await anyio.to_thread.run_sync(partial(library.index, report, rebuild=rebuild))

    @mcp.tool(annotations=read_only)
    def list_documents(ctx: Context) -> list[DocumentInfo]:
        """List the documents the library search covers, with their titles: the library's, then the notes
        indexed from the workspace (ids "workspace:<path>"); id, title, format, chunks, when indexed, first line.

        Use it when the user asks which documents or books their library holds, or to find an id for
        search_document, ask_document or read_passage. Their workspace's files: file_operation list. What a
        document says: search_library."""
        library = _opened(source, ctx)
        with _as_tool_errors():
            return library.list_documents()

    @mcp.tool(annotations=read_only, description=search_description([]))
    def search_library(
        ctx: Context,
        query: Query,
        top_k: TopK = 5,
        document_id: Annotated[str | None, Field(description="Limit to one document id; omit for all")] = None,
    ) -> Annotated[CallToolResult, SearchResult]:
        from mcp_server.library.evidence import render  # numpy: imported with the library, not at start-up

        library = _opened(source, ctx)
        with _as_tool_errors():
            hits, evidence = library.search_with_evidence(query, top_k=top_k, document_id=document_id)
        result = SearchResult(query, evidence, hits)
        return CallToolResult(
            content=[TextContent(type="text", text=render(query, evidence))],
            structured_content=TypeAdapter(SearchResult).dump_python(result, mode="json"),
        )

    @mcp.tool(annotations=read_only)
    def search_document(ctx: Context, document_id: DocumentId, query: Query, top_k: TopK = 5) -> list[SearchHit]:
        """Search inside one document whose id you already know (from list_documents or a search hit);
        passages best first, each with score, the fused keyword and meaning rank score that orders them
        (higher is better; compare scores only within one search). Without an id, use search_library."""
        library = _opened(source, ctx)
        with _as_tool_errors():
            return library.search(query, top_k=top_k, document_id=document_id)

    @mcp.tool(annotations=read_only)
    def ask_document(
        ctx: Context,
        document_id: DocumentId,
        question: Annotated[str, Field(description="The user's question about this document")],
    ) -> Answer:
        """Answer a question from one document: the passages that answer it (best first, with offsets)
        and answer_hint, the single sentence quoted from them that matches the question best.

        Base your answer only on these passages and cite the title; if they do not answer it, say so."""
        library = _opened(source, ctx)
        with _as_tool_errors():
            return library.ask(document_id, question)

    @mcp.tool(annotations=read_only)
    def read_passage(
        ctx: Context,
        document_id: DocumentId,
        char_start: Annotated[int, Field(ge=0, description="Character offset to start at, e.g. a hit's char_start")],
        length: Annotated[int, Field(ge=1, le=MAX_READ_CHARS, description="Characters to return")] = 1500,
    ) -> Reading:
        """Read a document's text from a character offset, for "read me more" or "read that part".

        Continue with next_char_start (None at the end of the document)."""
        library = _opened(source, ctx)
        with _as_tool_errors():
            return library.read_passage(document_id, char_start, length)
