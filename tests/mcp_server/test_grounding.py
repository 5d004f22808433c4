"""One place to look: the library's catalogue in search_library, workspace notes searched and kept fresh on
every write, search answering with evidence, and a missing file answered with the closest names.

The real server (`build_server`) with a real library (packaged embedder, Chroma in a temp folder) through
the MCP in-memory client.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from mcp import Client

from mcp_server.config import Config
from mcp_server.library.embedder import SentenceTransformerEmbedder
from mcp_server.library.search import Library
from mcp_server.library.sources import Sources, closest
from mcp_server.server import AssistantServer, build_server
from tests.mcp_server.conftest import SAMPLE_LIBRARY
from tests.servers import make_config


@pytest.fixture
def config(tmp_path: Path) -> Config:
    config = make_config(tmp_path)
    shutil.copytree(SAMPLE_LIBRARY, config.library_dir)
    config.workspace_dir.mkdir(parents=True)
    (config.workspace_dir / "todo.md").write_text("# To do\n\n- Renew the car insurance before 5 December.\n")
    (config.workspace_dir / "transcripts").mkdir()
    (config.workspace_dir / "transcripts" / "session.md").write_text("# Demo session\n\nThe oven is at 900 °C.\n")
    return config


@pytest.fixture
def library(config: Config, embedder: SentenceTransformerEmbedder) -> Library:
    library = Library(config.library_dir, config.index_dir, embedder, workspace_dir=config.workspace_dir)
    library.index()
    return library


@pytest.fixture
def server(config: Config, library: Library) -> AssistantServer:
    return build_server(config, library)


def test_sources_cover_the_library_and_the_workspace_notes_but_not_transcripts(config: Config) -> None:
    found = Sources(config.library_dir, config.workspace_dir).scan()

    assert "workspace:todo.md" in found and "bread-recipe.md" in found
    assert not any("transcripts" in document_id for document_id in found)


def test_closest_names_match_on_words_not_on_exact_spelling() -> None:
    names = {"household-budget.md": "household-budget.md Household budget notes", "todo.md": "todo.md To do"}

    assert closest("budget_notes.md", names) == ["household-budget.md"]
    assert closest("zebra.md", names) == []


async def test_search_library_describes_the_catalogue_and_answers_with_evidence(server: AssistantServer) -> None:
    async with Client(server, raise_exceptions=True) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        result = await client.call_tool("search_library", {"query": "when do I renew the car insurance"})

    description = tools["search_library"].description or ""
    assert "never answer that from memory" in description
    assert "- Weekend sourdough (bread-recipe.md): A simple recipe for one loaf" in description
    assert "todo.md" not in description  # workspace notes change at every write: not in the catalogue
    text = result.content[0].text  # type: ignore[union-attr]
    assert text.startswith('From "To do" (workspace:todo.md): Renew the car insurance before 5 December.')
    structured = result.structured_content or {}
    assert structured["evidence"][0]["source"] == "workspace"
    assert structured["hits"][0]["document_id"] == "workspace:todo.md"


async def test_a_written_note_is_found_by_the_next_search(server: AssistantServer) -> None:
    async with Client(server, raise_exceptions=True) as client:
        await client.call_tool(
            "file_operation",
            {"operation": "create", "filename": "packing.md", "content": "# Packing\n\nBring a rain jacket."},
        )
        found = await client.call_tool("search_library", {"query": "what should I bring for rain"})
        await client.call_tool("file_operation", {"operation": "delete", "filename": "packing.md"})
        after = await client.call_tool("search_library", {"query": "what should I bring for rain"})

    assert "workspace:packing.md" in found.content[0].text  # type: ignore[union-attr]
    assert "workspace:packing.md" not in after.content[0].text  # type: ignore[union-attr]


async def test_reading_a_missing_file_names_the_closest_files_in_both_places(server: AssistantServer) -> None:
    async with Client(server) as client:
        result = await client.call_tool("file_operation", {"operation": "read", "filename": "budget_notes.md"})

    message = result.content[0].text  # type: ignore[union-attr]
    assert result.is_error
    assert "'budget_notes.md' does not exist. Closest: household-budget.md ('Household budget notes'" in message
    assert "search_library" in message


async def test_a_read_of_a_name_spelled_another_way_reads_the_one_file_it_names(server: AssistantServer) -> None:
    """ "packing_list.md" or "To Do.md" for packing-list.md or todo.md: a name heard has no hyphens."""
    async with Client(server) as client:
        result = await client.call_tool("file_operation", {"operation": "read", "filename": "To_Do.md"})
        other = await client.call_tool("file_operation", {"operation": "read", "filename": "to_dos.md"})

    assert not result.is_error
    assert result.structured_content["filepath"] == "todo.md"  # type: ignore[index]
    assert "Renew the car insurance" in result.structured_content["content"]  # type: ignore[index]
    assert result.structured_content["message"].startswith("'To_Do.md' is 'todo.md'.")  # type: ignore[index]
    assert other.is_error and "Closest: todo.md" in other.content[0].text  # type: ignore[union-attr]


async def test_a_changed_library_announces_its_new_catalogue(config: Config, server: AssistantServer) -> None:
    library = server.library
    assert library is not None
    async with Client(server, raise_exceptions=True) as client:
        before = {t.name: t.description for t in (await client.list_tools()).tools}["search_library"]
        async with client.listen(tools_list_changed=True) as changes:
            (config.library_dir / "pancakes.md").write_text("# Pancakes\n\nTwo eggs, 250 ml milk, 125 g flour.\n")
            await asyncio.to_thread(library.index)
            async with asyncio.timeout(10):
                await anext(aiter(changes))
        after = {t.name: t.description for t in (await client.list_tools()).tools}["search_library"]

    assert "Pancakes (pancakes.md)" in (after or "") and "Pancakes" not in (before or "")
