"""The library tools through the real MCP in-memory client, the real model and a real Chroma store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from mcp import Client
from mcp.server import MCPServer

from mcp_server.library.embedder import SentenceTransformerEmbedder
from mcp_server.library.search import Library
from mcp_server.library.tools import register_library_tools
from tests.mcp_server.conftest import SAMPLE_LIBRARY
from tests.mcp_server.test_documents import PARAGRAPH

TOOLS = {"index_library", "list_documents", "search_library", "search_document", "ask_document", "read_passage"}


@pytest.fixture
def server(sample_library: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder) -> MCPServer:
    server = MCPServer("test")
    register_library_tools(server, Library(sample_library, tmp_path / "index", embedder))
    return server


async def test_tools_are_listed_with_hints_and_bounds(server: MCPServer):
    async with Client(server, raise_exceptions=True) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}

    assert set(tools) >= TOOLS
    assert tools["search_library"].annotations.read_only_hint is True
    assert tools["index_library"].annotations.read_only_hint is not True
    top_k = tools["search_library"].input_schema["properties"]["top_k"]
    assert (top_k["minimum"], top_k["maximum"], top_k["default"]) == (1, 20, 5)
    assert "never answer that from memory" in tools["search_library"].description


async def test_index_reports_progress_then_search_cites_passages(server: MCPServer):
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with Client(server, raise_exceptions=True) as client:
        indexed = await client.call_tool("index_library", {}, progress_callback=on_progress)
        found = await client.call_tool("search_library", {"query": "what do we do about slugs", "top_k": 2})
        documents = await client.call_tool("list_documents", {})

    assert sorted(indexed.structured_content["added"]) == sorted(p.name for p in SAMPLE_LIBRARY.iterdir())
    assert updates and updates[-1][0] == updates[-1][1] and "documents" in (updates[-1][2] or "")
    hits = found.structured_content["hits"]
    assert len(hits) == 2 and hits[0]["document_id"] == "garden-plan.md"
    assert {"title", "heading", "score", "passage", "char_start", "char_end", "source"} <= set(hits[0])
    assert "copper tape" in found.content[0].text  # the evidence the model reads
    assert {d["document_id"] for d in documents.structured_content["result"]} >= {"garden-plan.md"}


async def test_search_document_ask_and_read_passage_work_on_one_document(server: MCPServer):
    async with Client(server, raise_exceptions=True) as client:
        await client.call_tool("index_library", {})
        inside = await client.call_tool(
            "search_document", {"document_id": "household-budget.md", "query": "saving money", "top_k": 3}
        )
        answer = await client.call_tool(
            "ask_document", {"document_id": "household-budget.md", "question": "how big should the emergency fund be?"}
        )
        read = await client.call_tool(
            "read_passage", {"document_id": "household-budget.md", "char_start": 0, "length": 40}
        )

    assert {h["document_id"] for h in inside.structured_content["result"]} == {"household-budget.md"}
    assert "emergency fund" in answer.structured_content["answer_hint"]["sentence"].lower()
    assert read.structured_content["text"] == (SAMPLE_LIBRARY / "household-budget.md").read_text()[:40]
    assert read.structured_content["next_char_start"] == 40


async def test_bad_input_comes_back_as_errors_that_name_the_fix(server: MCPServer):
    async with Client(server, raise_exceptions=True) as client:
        await client.call_tool("index_library", {})
        unknown = await client.call_tool("ask_document", {"document_id": "diary.md", "question": "where was I?"})
        empty = await client.call_tool("search_library", {"query": "  "})
        too_many = await client.call_tool("search_library", {"query": "garlic", "top_k": 500})

    assert (
        unknown.is_error and "list_documents" in unknown.content[0].text and "garden-plan.md" in unknown.content[0].text
    )
    assert empty.is_error and "empty" in empty.content[0].text
    assert too_many.is_error


async def test_other_tools_answer_while_indexing_runs(
    sample_library: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder
):
    (sample_library / "minutes.md").write_text("# Minutes\n\n" + PARAGRAPH * 120)  # about 40 chunks to embed
    server = MCPServer("test")
    register_library_tools(server, Library(sample_library, tmp_path / "index", embedder))
    started = asyncio.Event()

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        started.set()

    async with Client(server, raise_exceptions=True) as client, asyncio.TaskGroup() as tasks:
        indexing = tasks.create_task(client.call_tool("index_library", {}, progress_callback=on_progress))
        async with asyncio.timeout(60):
            await started.wait()
        listed = await client.call_tool("list_documents", {})
        assert not indexing.done(), "list_documents had to wait for indexing"

    assert not listed.is_error
    assert "minutes.md" in indexing.result().structured_content["added"]
