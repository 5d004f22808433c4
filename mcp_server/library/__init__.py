"""The user's document library: parse, chunk, index (Chroma + BM25) and search `library/` and the workspace's
notes, and the MCP tools over it.

Importing this package is cheap: `open_library` and `LibraryLoader` import Chroma, numpy and the embedding
model only when the library is opened. The modules, roughly in the order a document flows through them:

    sources      which files are documents, and their ids
    documents    a file parsed into text with headings
    passages     `Passage`, a stretch of that text; a document cut into chunks (the passages the index stores)
    embedder     texts -> vectors (the `Embedder` seam)
    vocabulary   a document's names and rare words, weighed for a speech-to-text prompt
    records      what is kept per document and reported per index run; the library's errors
    unit_vectors the vectors of the units evidence can quote, embedded at index time
    store        `Store`: the chunks, unit vectors and records in Chroma, kept current with the files
    keywords     BM25 over the stored chunks
    ranking      rank fusion and widening: ranked chunks -> cited passages
    search       `Library`: search, ask, read and list over the store
    citations    what the library returns (`SearchHit`, `Answer`, `Reading`, `Evidence`)
    evidence     the few sentences of the hits that answer a question, for the model
    loader       `open_library`, and `LibraryLoader` that opens it in the background
    tools        the MCP tools
"""

from mcp_server.library.loader import LibraryLoader, LibraryUnavailable, open_library, open_now
from mcp_server.library.records import index_with_progress

__all__ = ["LibraryLoader", "LibraryUnavailable", "index_with_progress", "open_library", "open_now"]
