"""Library documents: parse .md/.txt/.pdf/.epub into text with headings, and cut it into token-bounded chunks.

Character offsets always refer to the parsed text (`ParsedDocument.text`), which parsing reproduces exactly.
"""

from __future__ import annotations

import bisect
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from mcp_server.embedder import Embedder

SUPPORTED_SUFFIXES = (".md", ".txt", ".pdf", ".epub")
"""File types the library indexes; others are ignored."""
INDEX_FORMAT = "parse 2 (Gutenberg body, title and author); chunks 128/32 word-pieces"
"""Changes whenever parsing or chunking changes: it is part of each file's fingerprint, so an index
built the old way counts as stale and is rebuilt document by document, as if every file changed."""


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


@dataclass(frozen=True)
class Chunk:
    """A passage of a document that fits the embedding model without truncation."""

    document_id: str
    title: str
    heading: str
    """Heading path at the chunk start, outer to inner, joined by " > " ("" if none)."""
    char_start: int
    char_end: int
    """`text == document.text[char_start:char_end]`."""
    text: str
    index: int
    """Position of the chunk in its document, from 0."""
    author: str = ""
    """The document's author ("" if unknown)."""


def parse_document(path: Path, document_id: str) -> ParsedDocument:
    """Read one library file.

    Raises:
        UnreadableDocument: if the file cannot be parsed.
        ValueError: if the suffix is not one of `SUPPORTED_SUFFIXES`.
    """
    suffix = path.suffix.lower()
    try:
        if suffix == ".md":
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


def heading_path(headings: list[Heading], char_pos: int) -> str:
    """The heading path (outer > inner) in force at `char_pos`."""
    stack: list[Heading] = []
    for heading in headings:
        if heading.char_start > char_pos:
            break
        while stack and stack[-1].level >= heading.level:
            stack.pop()
        stack.append(heading)
    return " > ".join(h.title for h in stack)


def chunk_document(
    document: ParsedDocument, embedder: Embedder, chunk_tokens: int = 128, overlap_tokens: int = 32
) -> list[Chunk]:
    """Cut a document into overlapping chunks of at most `chunk_tokens` tokens, specials included.

    `chunk_tokens` is capped at `embedder.max_tokens`, so the model never truncates a chunk. The default, 128,
    is the length all-MiniLM-L6-v2 was trained on; search widens each hit with its neighbours' text.

    Markdown and EPUB sections are chunked separately, so a chunk's heading is the section it comes from.
    Cuts prefer a paragraph break, then a sentence end, then a word boundary, in the last 40% of a window.
    Every chunk is re-counted, so no text is ever truncated by the model. Returns chunks in text order.
    """
    text = document.text
    spans = embedder.token_spans(text)
    limit = min(chunk_tokens, embedder.max_tokens)
    budget = limit - embedder.count_tokens("")
    chunks: list[Chunk] = []
    for first, last in _sections(document, spans):
        start = first
        while start < last:
            end = min(start + budget, last)
            while True:
                cut = end if end == last else _best_cut(text, spans, start, end)
                char_start, char_end = spans[start][0], spans[cut - 1][1]
                if embedder.count_tokens(text[char_start:char_end]) <= limit or cut - start <= 1:
                    break
                end = cut - 1  # re-tokenised differently (a cut inside a word): shrink and retry
            chunk_text = text[char_start:char_end]
            heading = heading_path(document.headings, _heading_anchor(document.headings, char_start, char_end))
            chunks.append(
                Chunk(
                    document.document_id,
                    document.title,
                    heading,
                    char_start,
                    char_end,
                    chunk_text,
                    len(chunks),
                    document.author,
                )
            )
            if cut >= last:
                break
            start = _word_start(text, spans, max(cut - overlap_tokens, start + 1), cut)
    return chunks


def _sections(document: ParsedDocument, spans: list[tuple[int, int]], min_tokens: int = 32) -> list[tuple[int, int]]:
    """Token ranges [first, last) to chunk separately: one per markdown/EPUB section (tiny ones join the next)."""
    if document.format not in {"md", "epub"} or not spans:
        return [(0, len(spans))]
    starts = [0]
    for heading in document.headings:
        token = bisect.bisect_left(spans, heading.char_start, key=lambda span: span[0])
        if token - starts[-1] >= min_tokens:
            starts.append(token)
    return list(zip(starts, [*starts[1:], len(spans)], strict=True))


def _heading_anchor(headings: list[Heading], char_start: int, char_end: int) -> int:
    """Where to read a chunk's heading path: the last heading in its first quarter, else its start."""
    inside = [h.char_start for h in headings if char_start <= h.char_start <= char_start + (char_end - char_start) // 4]
    return inside[-1] if inside else char_start


def _gap(text: str, spans: list[tuple[int, int]], k: int) -> str:
    """The characters between token k-1 and token k."""
    return text[spans[k - 1][1] : spans[k][0]]


def _best_cut(text: str, spans: list[tuple[int, int]], start: int, end: int) -> int:
    """Token index to cut before: paragraph break > sentence end > word boundary > `end`."""
    low = start + max(1, (end - start) * 6 // 10)
    candidates = range(end, low - 1, -1)
    for k in candidates:
        if "\n\n" in _gap(text, spans, k):
            return k
    for k in candidates:
        if _gap(text, spans, k).strip() == "" and _gap(text, spans, k) and _ends_sentence(text, spans, k):
            return k
    for k in candidates:
        if _gap(text, spans, k):
            return k
    return end


def _ends_sentence(text: str, spans: list[tuple[int, int]], k: int) -> bool:
    last = text[spans[k - 1][0] : spans[k - 1][1]]
    before = text[spans[k - 2][0] : spans[k - 2][1]] if k >= 2 else ""
    return last in {".", "!", "?"} or (last in {'"', "”", "’", "'", ")"} and before in {".", "!", "?"})


def _word_start(text: str, spans: list[tuple[int, int]], k: int, limit: int) -> int:
    """First token at or after k (and before `limit`) that begins a word; k itself if none does."""
    for j in range(k, limit):
        if _gap(text, spans, j):
            return j
    return k


_BLOCK = re.compile(r"[^\n]+(?:\n(?![ \t]*(?:[#>*|-]|\d+\.|\n))[^\n]*)*")
"""A paragraph, list item, heading or table row: lines up to a blank line or a line opening a markdown block."""
_SENTENCE = re.compile(r"[^.!?]+(?:[.!?]+[\"'”’)]*|$)")
_MARKUP = re.compile(r"^[\s#>*|-]*(?:\d+\.\s+)?(?:\*\*)?")


def split_sentences(text: str, offset: int = 0) -> list[tuple[str, int, int]]:
    """Sentences of `text` with at least 4 words, markup stripped: (sentence, start, end), offsets + `offset`."""
    found = []
    for block in _BLOCK.finditer(text):
        for match in _SENTENCE.finditer(block.group()):
            lead = len(_MARKUP.match(match.group()).group())  # type: ignore[union-attr]
            sentence = match.group()[lead:].rstrip()
            if len(sentence.split()) >= 4:
                start = offset + block.start() + match.start() + lead
                found.append((sentence, start, start + len(sentence)))
    return found
