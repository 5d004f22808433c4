"""The words the user is likely to say, for speech-to-text: each document's names and rare words weighed at index
time, and the `assistant://vocabulary` resource over MCP (the client's script first, then the library), announced
when the library or the script changes. Real MiniLM tokenizer, real Chroma, `library/`, in-memory MCP client."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from mcp import Client

from mcp_server.config import Config
from mcp_server.contract import VOCABULARY_URI
from mcp_server.library.documents import parse_document
from mcp_server.library.embedder import SentenceTransformerEmbedder
from mcp_server.library.search import Library
from mcp_server.library.vocabulary import terms, vocabulary
from mcp_server.server import AssistantServer, build_server
from mcp_server.vocabulary import COMMANDS, MAX_CHARS
from tests.mcp_server.conftest import SAMPLE_LIBRARY
from tests.servers import make_config

SCRIPTS = [
    f"{n} script" for n in ("blog writer", "brainstorm session", "email workshop", "improv game", "interview prep")
]


@pytest.fixture
def config(tmp_path: Path) -> Config:
    config = make_config(tmp_path)
    shutil.copytree(SAMPLE_LIBRARY, config.library_dir, dirs_exist_ok=True)
    return config


@pytest.fixture
def server(config: Config, embedder: SentenceTransformerEmbedder) -> AssistantServer:
    library = Library(config.library_dir, config.index_dir, embedder, workspace_dir=config.workspace_dir)
    library.index()
    return build_server(config, library)


async def _vocabulary(client: Client) -> str:
    return (await client.read_resource(VOCABULARY_URI)).contents[0].text  # type: ignore[union-attr]


def test_a_documents_names_and_rare_words_weigh_most(embedder: SentenceTransformerEmbedder) -> None:
    weighed = dict(terms(parse_document(SAMPLE_LIBRARY / "trip-itinerary-lisbon.md", "trip"), embedder))
    books = dict(terms(parse_document(SAMPLE_LIBRARY / "reading-list.md", "books"), embedder))

    assert {"Alfama", "Sintra", "Rossio", "Belém"} <= set(weighed)  # names
    assert {"itinerary", "guesthouse"} <= set(weighed)  # rare words
    assert not {"the", "flight", "March", "Thursday", "Monday"} & set(weighed)  # common words, months, weekdays
    assert weighed["Alfama"] > weighed["Belém"]  # said three times, once
    assert {"Ishiguro", "Kimmerer", "Sweetgrass", "Overstory", "Middlemarch"} <= set(books)


def test_the_library_vocabulary_is_its_titles_then_its_heaviest_words_within_bounds() -> None:
    documents = [("Garden plan 2027", [("Slugs", 1.0), ("radishes", 3.4)]), ("Reading list", [("Ishiguro", 6.8)])]

    assert vocabulary(documents, 100) == ["Garden plan 2027", "Reading list", "Ishiguro", "radishes", "Slugs"]
    assert vocabulary(documents, 40) == ["Garden plan 2027", "Reading list", "Slugs"]  # the rest did not fit


async def test_the_vocabulary_resource_holds_the_librarys_words(server: AssistantServer) -> None:
    async with Client(server, raise_exceptions=True) as client:
        listed = {str(r.uri) for r in (await client.list_resources()).resources}
        text = await _vocabulary(client)

    assert VOCABULARY_URI in listed
    phrases = text.split(", ")
    assert phrases[: len(COMMANDS)] == list(COMMANDS)  # what every user says, then the library's titles
    loadable = ["blog writer script", "brainstorm session script", "email workshop script", "improv game script"]
    assert phrases[len(COMMANDS) :][:4] == loadable  # no script runs: the ones to load, as said
    assert "Apartment lease summary" in phrases and "Book club: Walden by Henry David Thoreau" in phrases
    assert {"Weekend sourdough", "Alfama", "Ishiguro", "courgettes", "Overstory"} <= set(phrases)
    assert len(text) <= MAX_CHARS


async def test_a_loaded_script_leads_the_vocabulary_and_is_announced(server: AssistantServer) -> None:
    async with Client(server, raise_exceptions=True) as client:
        async with client.listen(resource_subscriptions=[VOCABULARY_URI]) as changes:
            await client.call_tool("load_script", {"script_name": "blog_writer"})
            async with asyncio.timeout(10):
                event = await anext(aiter(changes))
        text = await _vocabulary(client)

    assert getattr(event, "uri", None) == VOCABULARY_URI
    expected = "Blog Post Writing Assistant, discovery, outline, writing, Apartment lease summary"
    assert text.startswith(", ".join([*COMMANDS, expected]))
    assert len(text) <= MAX_CHARS


async def test_a_changed_library_announces_its_new_words(config: Config, server: AssistantServer) -> None:
    library = server.library
    assert isinstance(library, Library)
    async with Client(server, raise_exceptions=True) as client:
        before = await _vocabulary(client)  # as a client does when it connects
        async with client.listen(resource_subscriptions=[VOCABULARY_URI]) as changes:
            (config.library_dir / "zanzibar.md").write_text("# Zanzibar\n\nStone Town spice tour with Mwanaisha.\n")
            await asyncio.to_thread(library.index)
            async with asyncio.timeout(10):
                event = await anext(aiter(changes))
        text = await _vocabulary(client)

    assert getattr(event, "uri", None) == VOCABULARY_URI
    assert "Zanzibar" in text.split(", ") and "Mwanaisha" in text and "Zanzibar" not in before


async def test_without_a_library_or_script_the_vocabulary_is_the_server_s_commands(config: Config) -> None:
    async with Client(build_server(config), raise_exceptions=True) as client:
        assert await _vocabulary(client) == ", ".join([*COMMANDS, *SCRIPTS])  # names alone: commands heard worse
