"""Evidence at the cost of a search: the units a search can quote are embedded when their document is indexed,
and a search's evidence reads their vectors instead of embedding them. Real MiniLM, real Chroma, `library/`."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from mcp_server.library.embedder import SentenceTransformerEmbedder
from mcp_server.library.evidence import embedded_text, gather, quotable, render
from mcp_server.library.search import Library
from tests.mcp_server.conftest import SAMPLE_LIBRARY

QUESTIONS = [
    "what do I do about slugs in the garden?",
    "how long does the dough rest before baking",
    "what is the deposit on the apartment",
    "what did Thoreau say about simplicity",
    "where do we stay in Lisbon",
    "when does the outbound flight leave",
    "What's on the reading list for December?",
]


class CountingEmbedder:
    """The real model, counting the texts it embeds."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner, self.texts = inner, 0
        self.name, self.dimension, self.max_tokens = inner.name, inner.dimension, inner.max_tokens

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        self.texts += len(texts)
        return self.inner.embed(texts)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self.inner.token_spans(text)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


@pytest.fixture(scope="module")
def indexed(tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder) -> Library:
    """`library/` indexed once for the tests that only search it."""
    folder = tmp_path_factory.mktemp("units")
    shutil.copytree(SAMPLE_LIBRARY, folder / "library")
    library = Library(folder / "library", folder / "index", CountingEmbedder(embedder))
    library.index()
    return library


@pytest.fixture
def counted(sample_library: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder) -> Library:
    """`library/` indexed for a test that changes it."""
    library = Library(sample_library, tmp_path / "index", CountingEmbedder(embedder))
    library.index()
    return library


def _keys(library: Library, question: str) -> list[tuple[str, str]]:
    """(document id, embedded text) of every unit of every passage a search for `question` returns."""
    return [
        (hit.document_id, embedded_text(hit.title, hit.heading, unit))
        for hit in library.search(question, top_k=8)
        for unit in quotable(hit.passage)
    ]


def test_indexing_stores_a_vector_for_every_unit_a_search_can_quote(indexed: Library) -> None:
    for question in QUESTIONS:
        keys = _keys(indexed, question)
        stored = indexed.store.units.lookup(keys)

        assert keys and set(stored) == set(keys), question
        vector = next(iter(stored.values()))
        assert vector.shape == (indexed.embedder.dimension,) and abs(float(np.linalg.norm(vector)) - 1) < 1e-4


def test_a_search_with_evidence_embeds_only_the_question(indexed: Library) -> None:
    embedder = indexed.embedder
    assert isinstance(embedder, CountingEmbedder)
    for question in QUESTIONS:
        before = embedder.texts
        hits, evidence = indexed.search_with_evidence(question)

        assert embedder.texts - before == 1, question  # the query, once: the units' vectors come from the store
        assert hits and evidence


def test_the_evidence_is_the_evidence_embedded_at_query_time(indexed: Library, embedder: SentenceTransformerEmbedder):
    for question in QUESTIONS:
        hits, evidence = indexed.search_with_evidence(question)

        assert render(question, evidence) == render(question, gather(question, hits, embedder)), question
    hits, evidence = indexed.search_with_evidence(QUESTIONS[0])
    assert "copper tape" in render(QUESTIONS[0], evidence)


def test_an_index_without_unit_vectors_still_gives_the_same_evidence(
    counted: Library, embedder: SentenceTransformerEmbedder
) -> None:
    """An index built before units were stored (until it is rebuilt as stale): the units are embedded at query time."""
    for document in counted.list_documents():
        counted.store.units.remove(document.document_id)
    counting = counted.embedder
    assert isinstance(counting, CountingEmbedder)
    question = QUESTIONS[0]
    before = counting.texts

    hits, evidence = counted.search_with_evidence(question)

    assert counting.texts - before > 1
    assert render(question, evidence) == render(question, gather(question, hits, embedder))


def test_a_changed_or_deleted_document_leaves_no_stale_units(counted: Library, sample_library: Path) -> None:
    garden = sample_library / "garden-plan.md"
    old_keys = [k for k in _keys(counted, QUESTIONS[0]) if k[0] == "garden-plan.md"]
    garden.write_text(garden.read_text(encoding="utf-8").replace("Slugs", "Snails"), encoding="utf-8")
    counted.index()

    assert not counted.store.units.lookup([k for k in old_keys if "Slugs" in k[1]])
    new_keys = [k for k in _keys(counted, "what do I do about snails") if k[0] == "garden-plan.md"]
    assert set(counted.store.units.lookup(new_keys)) == set(new_keys)

    garden.unlink()
    counted.index()
    assert not counted.store.units.lookup(new_keys)
