"""The server answers before its library is open: a real stdio server, the real embedding model and Chroma.

An IDE spawns the server and waits for `initialize` and `tools/list`; the library (torch, Chroma, the model)
opens in the background afterwards, and a library call made before it is open waits for it with progress
notifications instead of failing.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

from mcp_server.library.embedder import SentenceTransformerEmbedder
from mcp_server.library.loader import LibraryLoader, LibraryUnavailable
from mcp_server.library.search import Library

ROOT = Path(__file__).resolve().parents[2]


def _first_sentence(description: str) -> str:
    return description.split(". ")[0]


async def test_tools_are_listed_before_the_library_opens_and_a_search_waits_for_it(
    tmp_path: Path, sample_library: Path, embedder: SentenceTransformerEmbedder
) -> None:
    library = Library(sample_library, tmp_path / "index", embedder)
    library.index()
    library.close()
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "mcp_server", "serve", "--transport", "stdio"],
        env={
            "WORKING_DIRECTORY": str(tmp_path / "workspace"),
            "LIBRARY_DIR": str(sample_library),
            "INDEX_DIR": str(tmp_path / "index"),
            "HF_HUB_OFFLINE": "1",
        },
        cwd=str(ROOT),
    )
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    async with Client(params) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
        found = await client.call_tool(
            "search_library", {"query": "what to do about slugs"}, progress_callback=on_progress
        )
        relisted = {t.name: t for t in (await client.list_tools()).tools}

    assert "search_library" in listed and "read_passage" in listed
    opening = _first_sentence(listed["search_library"].description or "")
    assert "Garden" not in opening, opening  # the catalogue is not known yet: the library is still opening
    assert not found.is_error, found.content
    assert "copper tape" in found.content[0].text  # type: ignore[union-attr]
    assert progress and progress[0].startswith("Opening the document library"), progress
    assert "Garden" in _first_sentence(relisted["search_library"].description or "")


def test_a_library_that_cannot_open_is_a_clear_error_for_every_call() -> None:
    def broken() -> Library:
        raise FileNotFoundError("the embedding model 'all-MiniLM-L6-v2' is not installed")

    loader = LibraryLoader(broken)
    assert loader.library is None
    with pytest.raises(LibraryUnavailable, match="is not installed"):
        loader.wait(5)
    loader.close()
