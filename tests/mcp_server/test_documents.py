"""Parsing of .md/.txt/.pdf/.epub files and token-bounded chunking, with the real MiniLM tokenizer."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from ebooklib import epub
from fpdf import FPDF

from mcp_server.library.documents import UnreadableDocument, parse_document
from mcp_server.library.embedder import SentenceTransformerEmbedder
from mcp_server.library.passages import chunk_document

PARAGRAPH = (
    "The committee met on Tuesday to discuss the new library building. Several members raised concerns "
    "about the budget, the timeline and the choice of architect. After a long debate they agreed to "
    "postpone the decision until the next meeting, when the final cost estimate will be available. "
)


def make_pdf(path: Path, pages: list[str], title: str = "Field Notes") -> Path:
    """A real PDF with one text page per entry, written by fpdf2."""
    pdf = FPDF()
    pdf.set_title(title)
    pdf.set_font("Helvetica", size=11)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 6, text)
    pdf.output(str(path))
    return path


def make_epub(path: Path, chapters: list[tuple[str, str]], title: str = "A Small Book") -> Path:
    """A real EPUB with one XHTML chapter per (heading, paragraph), written by ebooklib."""
    book = epub.EpubBook()
    book.set_identifier("test-book-1")
    book.set_title(title)
    book.set_language("en")
    items = []
    for number, (heading, body) in enumerate(chapters, start=1):
        item = epub.EpubHtml(title=heading, file_name=f"ch{number}.xhtml", lang="en")
        item.content = f"<html><body><h1>{heading}</h1><p>{body}</p><p><b>Bold</b> &amp; more.</p></body></html>"
        book.add_item(item)
        items.append(item)
    book.toc = items
    book.add_item(epub.EpubNcx())
    book.add_item(epub.EpubNav())
    book.spine = ["nav", *items]
    epub.write_epub(str(path), book)
    return path


def test_markdown_sections_are_chunked_apart(tmp_path: Path, embedder: SentenceTransformerEmbedder):
    source = tmp_path / "plan.md"
    source.write_text(f"# Plan\n\nIntro.\n\n## Budget\n\n{PARAGRAPH * 6}\n\n### Travel\n\n{PARAGRAPH * 6}\n")
    document = parse_document(source, "plan.md")
    chunks = chunk_document(document, embedder)

    assert document.title == "Plan"
    assert [(h.level, h.title) for h in document.headings] == [(1, "Plan"), (2, "Budget"), (3, "Travel")]
    assert chunks[0].heading == "Plan > Budget"  # the tiny "Plan" section joins the next one
    assert chunks[-1].heading == "Plan > Budget > Travel"
    travel = document.headings[2].char_start
    assert all(c.char_end <= travel or c.char_start >= travel for c in chunks), "chunks stay inside a section"


def test_chunks_fit_the_model_cover_the_text_and_overlap(tmp_path: Path, embedder: SentenceTransformerEmbedder):
    source = tmp_path / "long.txt"
    source.write_text(PARAGRAPH * 60)
    document = parse_document(source, "long.txt")
    chunks = chunk_document(document, embedder, overlap_tokens=40)

    assert len(chunks) > 5
    for chunk in chunks:
        assert embedder.count_tokens(chunk.text) <= embedder.max_tokens
        assert chunk.text == document.text[chunk.char_start : chunk.char_end]
    for before, after in itertools.pairwise(chunks):
        assert after.char_start < before.char_end, "consecutive chunks must overlap"
    assert chunks[0].char_start == 0
    assert chunks[-1].char_end == len(document.text.rstrip())
    assert [c.index for c in chunks] == list(range(len(chunks)))


def test_a_long_unbroken_word_is_split_without_truncation(tmp_path: Path, embedder: SentenceTransformerEmbedder):
    source = tmp_path / "hash.txt"
    source.write_text("-".join(["x7qz9"] * 1000))  # no whitespace anywhere: cuts must fall inside the "word"
    chunks = chunk_document(parse_document(source, "hash.txt"), embedder)

    assert len(chunks) > 10
    assert all(embedder.count_tokens(c.text) <= embedder.max_tokens for c in chunks)
    assert chunks[-1].char_end == 5999


def test_chunks_end_at_sentence_ends_when_possible(tmp_path: Path, embedder: SentenceTransformerEmbedder):
    source = tmp_path / "prose.txt"
    source.write_text(PARAGRAPH * 20)
    chunks = chunk_document(parse_document(source, "prose.txt"), embedder)

    assert all(c.text.endswith(".") for c in chunks)


def test_plain_text_bom_and_crlf_are_normalised_and_gutenberg_title_found(tmp_path: Path):
    source = tmp_path / "book.txt"
    source.write_bytes(
        "\ufeffThe Project Gutenberg eBook of Walden, by Henry David Thoreau\r\n\r\nCHAPTER I\r\n\r\nText.\r\n".encode()
    )
    document = parse_document(source, "book.txt")

    assert document.title == "Walden"
    assert "\r" not in document.text and not document.text.startswith("\ufeff")
    assert [h.title for h in document.headings] == ["CHAPTER I"]


def test_gutenberg_licence_is_left_out_and_title_and_author_come_from_the_header(tmp_path: Path):
    source = tmp_path / "origin.txt"
    source.write_text(
        "The Project Gutenberg eBook of On the Origin of Species\n\nTitle: On the Origin of Species\n\n"
        "Author: Charles Darwin\n\n*** START OF THE PROJECT GUTENBERG EBOOK ON THE ORIGIN OF SPECIES ***\n\n"
        "CHAPTER I\n\nVariation under domestication.\n\n*** END OF THE PROJECT GUTENBERG EBOOK ***\n\n"
        "Section 1. General Terms of Use and Redistributing Project Gutenberg electronic works\n"
    )
    document = parse_document(source, "origin.txt")

    assert (document.title, document.author) == ("On the Origin of Species", "Charles Darwin")
    assert document.text == "CHAPTER I\n\nVariation under domestication."
    assert "Gutenberg" not in document.text and [h.title for h in document.headings] == ["CHAPTER I"]


def test_a_title_page_gives_title_and_author_and_text_without_markers_is_kept_whole(tmp_path: Path):
    source = tmp_path / "walden.txt"
    text = "[Illustration]\n\nWALDEN\n\nand\n\nON THE DUTY OF CIVIL DISOBEDIENCE\n\nby Henry David Thoreau\n\nEconomy\n"
    source.write_text(text)
    document = parse_document(source, "walden.txt")

    assert document.title == "Walden And On The Duty Of Civil Disobedience"
    assert document.author == "Henry David Thoreau" and document.text == text


def test_pdf_pages_become_text_with_page_headings(tmp_path: Path, embedder: SentenceTransformerEmbedder):
    source = make_pdf(tmp_path / "notes.pdf", ["Beekeeping starts in April.", "Harvest honey in August."])
    document = parse_document(source, "notes.pdf")
    chunks = chunk_document(document, embedder)

    assert document.format == "pdf" and document.title == "Field Notes"
    assert "Beekeeping starts in April." in document.text and "Harvest honey in August." in document.text
    assert [h.title for h in document.headings] == ["Page 1", "Page 2"]
    assert document.text[document.headings[1].char_start :].startswith("Harvest honey")
    assert chunks[0].heading == "Page 1"


def test_epub_chapters_become_text_without_markup(tmp_path: Path):
    chapters = [("The River", "We rowed upstream at dawn."), ("The Mill", "The old mill stood silent.")]
    document = parse_document(make_epub(tmp_path / "book.epub", chapters), "book.epub")

    assert document.format == "epub" and document.title == "A Small Book"
    assert "We rowed upstream at dawn." in document.text and "Bold & more." in document.text
    assert "<" not in document.text
    assert [h.title for h in document.headings] == ["The River", "The Mill"]
    for heading in document.headings:
        assert document.text[heading.char_start :].startswith(heading.title)


def test_a_corrupt_pdf_is_reported_as_unreadable(tmp_path: Path):
    source = tmp_path / "broken.pdf"
    source.write_bytes(b"%PDF-1.4 this is not really a pdf")

    with pytest.raises(UnreadableDocument, match=r"broken\.pdf"):
        parse_document(source, "broken.pdf")
