"""Library documents: parse .md/.txt/.pdf/.epub into text with headings (`passages.py` cuts them up).

Character offsets always refer to the parsed text (`ParsedDocument.text`), which parsing reproduces exactly.
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".pdf", ".epub")
"""File types the library indexes; others are ignored."""
INDEX_FORMAT = "parse 2 (Gutenberg body, title and author); chunks 128/32 word-pieces; evidence units 1; terms 1"
"""Changes whenever parsing or chunking changes, or what is stored beside the chunks: the evidence units (how
`evidence.units` cuts a passage, `evidence.embedded_text`) and the terms for speech-to-text (`vocabulary.terms`).
It is part of each file's fingerprint, so an index built the old way counts as stale and is rebuilt document by
document, as if every file changed. (Until then a search embeds the units it finds no stored vector for.)"""


class UnreadableDocument(ValueError):
    """A file in the library could not be parsed (corrupt PDF/EPUB, undecodable text)."""


@dataclass(frozen=True)
class Heading:
    """A section start in the parsed text."""

    char_start: int
    """Offset of the heading line in `ParsedDocument.text`."""
    level: int
    """1 = top level."""
    title: str


@dataclass(frozen=True)
class ParsedDocument:
    """One library file as plain text."""

    document_id: str
    """Path relative to the library folder, with "/" separators (e.g. "notes/garden.md")."""
    title: str
    format: str
    """"md", "txt", "pdf" or "epub"."""
    text: str
    headings: list[Heading]
    """In text order."""
    author: str = ""
    """As the file names it ("" if unknown); searched with the title, so "what does Thoreau say" finds Walden."""


def parse_document(path: Path, document_id: str) -> ParsedDocument:
    """Read one library file.

    Raises:
        UnreadableDocument: if the file cannot be parsed.
        ValueError: if the suffix is not one of `SUPPORTED_SUFFIXES`.
    """
    suffix = path.suffix.lower()
    try:
        if suffix in (".md", ".markdown"):
            return _parse_markdown(path, document_id)
        if suffix == ".txt":
            return _parse_text(path, document_id)
        if suffix == ".pdf":
            return _parse_pdf(path, document_id)
        if suffix == ".epub":
            return _parse_epub(path, document_id)
    except (OSError, UnicodeError, KeyError, ValueError) as exc:
        raise UnreadableDocument(f"Cannot read {document_id}: {exc}") from exc
    raise ValueError(f"Unsupported file type {suffix!r}; supported: {', '.join(SUPPORTED_SUFFIXES)}")


def _clean(text: str) -> str:
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _stem_title(path: Path) -> str:
    return re.sub(r"[_-]+", " ", path.stem).strip().capitalize() or path.name


def _parse_markdown(path: Path, document_id: str) -> ParsedDocument:
    from markdown_it import MarkdownIt

    text = _clean(path.read_text(encoding="utf-8", errors="replace"))
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    tokens = MarkdownIt("commonmark").parse(text)
    headings = [
        Heading(line_starts[tok.map[0]], int(tok.tag[1]), tokens[i + 1].content.strip())
        for i, tok in enumerate(tokens)
        if tok.type == "heading_open" and tok.map is not None
    ]
    title = next((h.title for h in headings if h.level == 1), _stem_title(path))
    return ParsedDocument(document_id, title, "md", text, headings)


_GUTENBERG_FIELD = re.compile(r"^(Title|Author):[ \t]*(.+?)\s*$", re.I | re.M)
_GUTENBERG_EBOOK_OF = re.compile(r"^\W*The Project Gutenberg e-?book,? of\s+(.+?)(?:,\s+by\s+(.+?))?\s*$", re.I | re.M)
_GUTENBERG_START = re.compile(r"^\*\*\* ?START OF (?:THE|THIS) PROJECT GUTENBERG[^\n]*\n", re.I | re.M)
_GUTENBERG_END = re.compile(r"^\*\*\* ?END OF (?:THE|THIS) PROJECT GUTENBERG", re.I | re.M)
_ILLUSTRATION = re.compile(r"\[Illustration[^\]]*\]")
_BYLINE = re.compile(r"^_?by_?(?:\s+(.+))?$", re.I)
_TEXT_HEADING = re.compile(r"^(?:chapter|book|part|section|act|scene|letter)\b|^[IVXLC]+\.?$", re.I)


def _parse_text(path: Path, document_id: str) -> ParsedDocument:
    """A plain-text file; a Project Gutenberg book keeps only the work between its START and END markers."""
    text = _clean(path.read_bytes().decode("utf-8", errors="replace"))
    header = _GUTENBERG_FIELD.findall(text[:5000]) or _GUTENBERG_EBOOK_OF.findall(text[:5000])
    start, end = _GUTENBERG_START.search(text), _GUTENBERG_END.search(text)
    body = text[start.end() if start else 0 : end.start() if end else len(text)]
    body = body.strip("\n") if start or end else body
    title, author = _gutenberg_header(header) if header else _title_page(body)
    title = title or _stem_title(path)
    return ParsedDocument(document_id, title, "txt", body, _text_headings(body), author)


def _gutenberg_header(found: list[tuple[str, str]]) -> tuple[str, str]:
    """(title, author) from "Title:"/"Author:" lines, or from "The Project Gutenberg eBook of X, by Y"."""
    if found[0][0].lower() in {"title", "author"}:
        fields = {name.lower(): value for name, value in reversed(found)}
        return fields.get("title", "").strip(" \"'"), fields.get("author", "")
    title, author = found[0]
    return title.strip(" \"'"), author


def _title_page(body: str, max_lines: int = 16) -> tuple[str, str]:
    """(title, author) from a title page: the lines before the first "by ..." line, and that line's name."""
    lines = [line.strip() for line in _ILLUSTRATION.sub("", body[:4000]).splitlines() if line.strip()]
    for number, line in enumerate(lines[:max_lines]):
        byline = _BYLINE.match(line)
        if byline and number > 0:
            author = byline.group(1) or (lines[number + 1] if number + 1 < len(lines) else "")
            return _title_lines(lines[:number]), author.strip(" ,.")
    return "", ""


def _title_lines(lines: list[str]) -> str:
    """A title set over several lines, without the long subtitle lines that follow it; capitals softened."""
    words: list[str] = []
    for line in lines:
        if len(words) >= 3 and len(line) > 25:
            break
        words += line.rstrip(".,;:").split()
    title = " ".join(words)
    return title.title() if sum(c.isupper() for c in title) > sum(c.islower() for c in title) else title


def _text_headings(text: str) -> list[Heading]:
    """Short lines set off by blank lines that look like chapter titles (CHAPTER I, ALL CAPS, roman numerals)."""
    headings = []
    for match in re.finditer(r"(?:(?<=\n\n)|\A)([^\n]{1,60})(?=\n\n)", text):
        line = match.group(1).strip()
        letters = [c for c in line if c.isalpha()]
        if letters and (_TEXT_HEADING.match(line) or (len(letters) > 3 and line.upper() == line)):
            headings.append(Heading(match.start(1), 1, line))
    return headings


def _parse_pdf(path: Path, document_id: str) -> ParsedDocument:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(path)
        pages = [_clean(page.extract_text() or "").strip() for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except PdfReadError as exc:
        raise UnreadableDocument(f"Cannot read {document_id}: {exc}") from exc
    text, headings = "", []
    for number, page in enumerate(pages, start=1):
        text += "\n\n" if text else ""
        headings.append(Heading(len(text), 1, f"Page {number}"))
        text += page
    return ParsedDocument(document_id, meta_title.strip() or _stem_title(path), "pdf", text, headings)


_BLOCK_TAGS = ("p", "div", "li", "blockquote", "pre", "tr", "br", "h1", "h2", "h3", "h4", "h5", "h6")


def _parse_epub(path: Path, document_id: str) -> ParsedDocument:
    import ebooklib
    import lxml.html
    from ebooklib import epub

    with warnings.catch_warnings():  # ebooklib warns about its own future defaults on every read
        warnings.simplefilter("ignore")
        book = epub.read_epub(str(path), options={"ignore_ncx": True})
    titles = book.get_metadata("DC", "title")
    parts: list[str] = []
    headings: list[Heading] = []
    offset = 0
    for item_id, _linear in book.spine:
        item = book.get_item_with_id(item_id)
        if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT or isinstance(item, epub.EpubNav):
            continue  # the navigation page only repeats the table of contents
        if not item.get_content().strip():
            continue
        root = lxml.html.fromstring(item.get_content())
        for element in root.iter(*_BLOCK_TAGS):
            element.tail = "\n\n" + (element.tail or "")
        body = root.find(".//body")
        section = re.sub(r"\n{3,}", "\n\n", (body if body is not None else root).text_content()).strip()
        cursor = 0
        for element in root.iter("h1", "h2", "h3"):
            heading = element.text_content().strip()
            found = section.find(heading, cursor) if heading else -1
            if found >= 0:
                headings.append(Heading(offset + found, int(element.tag[1]), heading))
                cursor = found + len(heading)
        parts.append(section)
        offset += len(section) + 2
    text = "\n\n".join(parts)
    return ParsedDocument(document_id, titles[0][0] if titles else _stem_title(path), "epub", text, headings)
