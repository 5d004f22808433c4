"""The library over a real embedded Chroma store and the real MiniLM model: relevance, incremental indexing,
deletion, model mismatch, PDF/EPUB, errors and paging."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from mcp_server.library.embedder import SentenceTransformerEmbedder
from mcp_server.library.ranking import RRF_K
from mcp_server.library.records import (
    EmptyLibrary,
    EmptyQuery,
    IndexMismatch,
    IndexProgress,
    UnknownDocument,
    index_with_progress,
)
from mcp_server.library.search import Library
from tests.mcp_server.conftest import SAMPLE_COUNT
from tests.mcp_server.test_documents import make_epub, make_pdf


class RenamedEmbedder:
    """The real model under another name and a truncated dimension: what a changed EMBEDDING_MODEL looks like."""

    def __init__(self, inner: SentenceTransformerEmbedder):
        self.inner, self.name, self.dimension, self.max_tokens = inner, "other-model", 128, inner.max_tokens

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        return self.inner.embed(texts)[:, :128]

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        return self.inner.token_spans(text)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


@pytest.fixture
def library(sample_library: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder) -> Library:
    library = Library(sample_library, tmp_path / "index", embedder)
    library.index()
    return library


@pytest.mark.parametrize(
    ("question", "document_id", "heading"),
    [
        ("when do I put the garlic in the ground", "garden-plan.md", "Garden plan 2027 > Autumn"),
        ("how can I keep snails off my vegetables", "garden-plan.md", "Garden plan 2027 > Pests and problems"),
        ("how much money goes on food shopping each month", "household-budget.md", ""),
        ("why did the author move to a hut by the lake", "book-club-walden.md", ""),
        ("my loaf came out flat and heavy, what went wrong", "bread-recipe.md", ""),
    ],
)
def test_paraphrased_questions_find_the_right_passage(library: Library, question: str, document_id: str, heading: str):
    hits = library.search(question, top_k=3)

    assert hits[0].document_id == document_id
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True), "the score orders the hits"
    assert 0 < hits[-1].score <= hits[0].score <= 2 / RRF_K, "a fused rank score, not a similarity"
    if heading:
        assert heading in {h.heading for h in hits if h.document_id == document_id}


def test_hits_carry_citations_that_point_into_the_document(library: Library):
    hit = library.search("emergency fund target", top_k=1)[0]
    reading = library.read_passage(hit.document_id, hit.char_start, hit.char_end - hit.char_start)

    assert hit.title == "Household budget notes"
    assert reading.text == hit.passage
    assert "emergency fund" in hit.passage


def test_unchanged_files_are_skipped_and_a_changed_file_alone_is_re_embedded(library: Library, sample_library: Path):
    garden = sample_library / "garden-plan.md"
    garden.touch()  # a new mtime but the same content: still unchanged
    assert library.index().unchanged == SAMPLE_COUNT

    garden.write_text(garden.read_text() + "\n## Winter\n\nOrder seed catalogues in January and plan the rotation.\n")
    progress: list[IndexProgress] = []
    report = library.index(progress.append)

    assert report.updated == ["garden-plan.md"] and report.added == [] and report.unchanged == SAMPLE_COUNT - 1
    assert (
        report.chunks_embedded
        == progress[-1].chunks_total
        == {d.document_id: d.chunks for d in library.list_documents()}["garden-plan.md"]
    )
    assert library.search("seed catalogues and crop rotation", top_k=1)[0].document_id == "garden-plan.md"


def test_an_index_built_by_an_older_parser_or_chunker_is_stale_and_rebuilt(
    library: Library, monkeypatch: pytest.MonkeyPatch
):
    assert not library.is_stale()
    monkeypatch.setattr("mcp_server.library.records.INDEX_FORMAT", "a newer way to chunk")

    assert library.is_stale()
    report = library.index()
    assert sorted(report.updated) == sorted(d.document_id for d in library.list_documents()) and report.unchanged == 0
    assert not library.is_stale()


def test_a_deleted_file_disappears_from_index_and_results(library: Library, sample_library: Path):
    (sample_library / "bread-recipe.md").unlink()
    report = library.index()

    assert report.removed == ["bread-recipe.md"]
    assert "bread-recipe.md" not in {d.document_id for d in library.list_documents()}
    assert all(h.document_id != "bread-recipe.md" for h in library.search("sourdough starter", top_k=10))
    with pytest.raises(UnknownDocument):
        library.search("flour", document_id="bread-recipe.md")


def test_another_embedding_model_gets_a_reindex_error_until_rebuilt(
    library: Library, sample_library: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder
):
    other = Library(sample_library, tmp_path / "index", RenamedEmbedder(embedder))

    with pytest.raises(IndexMismatch, match=r"all-MiniLM-L6-v2 \(384-d\).*other-model \(128-d\).*[Rr]eindex"):
        other.search("garlic")
    report = other.index(rebuild=True)

    assert len(report.added) == SAMPLE_COUNT
    assert other.search("when do I plant garlic", top_k=1)[0].document_id == "garden-plan.md"


def test_pdf_and_epub_files_are_indexed_and_searchable(library: Library, sample_library: Path):
    make_pdf(sample_library / "bees.pdf", ["Our two beehives produced eleven kilos of honey this summer."])
    make_epub(sample_library / "river.epub", [("The River", "We rowed upstream at dawn to watch the herons fish.")])
    report = library.index()

    assert sorted(report.added) == ["bees.pdf", "river.epub"]
    formats = {d.document_id: d.format for d in library.list_documents()}
    assert formats["bees.pdf"] == "pdf" and formats["river.epub"] == "epub"
    assert library.search("how much honey did the hives make", top_k=1)[0].document_id == "bees.pdf"
    assert library.search("birds catching fish by the water", top_k=1)[0].heading == "The River"


def test_ask_quotes_the_best_sentence_verbatim_with_its_offsets(library: Library):
    answer = library.ask("garden-plan.md", "how do I stop slugs eating the lettuce?")
    hint = answer.answer_hint
    text = library.read_passage("garden-plan.md", 0, 4000).text

    assert hint is not None and "slug" in hint.sentence.lower()
    assert text[hint.char_start : hint.char_end] == hint.sentence
    assert answer.passages and all(p.document_id == "garden-plan.md" for p in answer.passages)


def test_read_passage_pages_through_the_whole_document(library: Library, sample_library: Path):
    pages, start = [], 0
    while start is not None:
        passage = library.read_passage("book-club-walden.md", start, 300)
        pages.append(passage.text)
        start = passage.next_char_start

    assert "".join(pages) == (sample_library / "book-club-walden.md").read_text()
    with pytest.raises(ValueError, match="outside"):
        library.read_passage("book-club-walden.md", 10**6, 100)


def test_unknown_document_and_empty_query_errors_name_the_fix(library: Library):
    with pytest.raises(UnknownDocument, match=r"'nope\.md'.*garden-plan\.md.*list_documents"):
        library.search("garlic", document_id="nope.md")
    with pytest.raises(UnknownDocument, match="list_documents"):
        library.read_passage("nope.md", 0, 10)
    with pytest.raises(EmptyQuery, match="empty"):
        library.search("   ")


def test_background_index_fills_an_empty_index_then_stays_idle(
    sample_library: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder
):
    library = Library(sample_library, tmp_path / "index", embedder)
    thread = library.start_background_index()
    assert thread is not None
    thread.join(timeout=120)

    assert not thread.is_alive() and len(library.list_documents()) == SAMPLE_COUNT
    assert library.start_background_index() is None
    library.close()


def test_searching_an_empty_library_says_how_to_fill_it(tmp_path: Path, embedder: SentenceTransformerEmbedder):
    library = Library(tmp_path / "nothing-here", tmp_path / "index", embedder)
    assert library.index().chunks_embedded == 0

    with pytest.raises(EmptyLibrary, match="index_library"):
        library.search("anything")


def test_a_rare_exact_word_is_found_by_keyword_ranking(library: Library, sample_library: Path):
    (sample_library / "boiler.md").write_text("# Boiler\n\nReplace the Zorblax valve every 300 operating hours.\n")
    library.index()

    assert library.search("zorblax", top_k=1)[0].document_id == "boiler.md"


def test_a_question_naming_the_author_finds_the_authors_book(tmp_path: Path, embedder: SentenceTransformerEmbedder):
    """A lecture that quotes Thoreau does not outrank his book (its title page names him; chunks carry its author)."""
    library_dir = tmp_path / "books"
    library_dir.mkdir()
    (library_dir / "woods.txt").write_text(
        "A YEAR IN THE WOODS\n\nby Henry David Thoreau\n\n"
        + "I dug beans all summer and read by the pond in the evenings. " * 30
        + "\n\nOur life is frittered away by detail. Simplicity, simplicity, simplicity! Let your affairs be few.\n"
    )
    (library_dir / "lecture.txt").write_text(
        "NOTES FOR SPEAKERS\n\nby A. Lecturer\n\n"
        + "Keep your slides few and plain, and speak slowly so the audience can follow you. " * 20
        + "\n\nQuote Thoreau or Emerson when a line of theirs helps the audience remember you.\n"
    )
    library = Library(library_dir, tmp_path / "index", embedder)
    library.index()

    hits = library.search("what does thoreau say about simplicity", top_k=2)

    assert hits[0].document_id == "woods.txt"
    assert any(h.document_id == "woods.txt" and "Simplicity, simplicity" in h.passage for h in hits)
    assert {d.document_id: d.title for d in library.list_documents()}["woods.txt"] == "A Year In The Woods"


def test_terminal_indexer_reports_what_it_did(
    sample_library: Path, tmp_path: Path, embedder: SentenceTransformerEmbedder, capsys: pytest.CaptureFixture[str]
):
    report = index_with_progress(Library(sample_library, tmp_path / "index", embedder))

    assert len(report.added) == SAMPLE_COUNT and report.chunks_embedded > SAMPLE_COUNT
    assert "Library indexed" in capsys.readouterr().err
