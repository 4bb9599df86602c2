"""Documents to sections of text under their heading paths.

Formats: plain text, Markdown, HTML (markdownify → the Markdown rules), PDF (pypdf;
headings from font sizes when the document has them, otherwise one section per page)
and Word .docx (python-docx; Title and Heading 1-6 styles). The type comes from the
file's magic bytes first, then its extension, then the declared content type. Every
failure is a ``DocumentError`` whose message names the file and says what to do.
"""

from __future__ import annotations

import io
import itertools
import re
import statistics
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_PAGES = 2000
MAX_CHARS = 5_000_000
MAX_UNZIPPED_BYTES = 200_000_000  # a .docx that inflates past this is refused (zip bomb)

KINDS = ("txt", "md", "html", "pdf", "docx")
_EXTENSIONS = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
_CONTENT_TYPES = {
    "text/plain": "txt",
    "text/markdown": "md",
    "text/x-markdown": "md",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
_FOREIGN_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\xd0\xcf\x11\xe0", "a legacy Office file (.doc/.xls/.ppt); save it as .docx"),
    (b"{\\rtf", "an RTF file; save it as .docx or .txt"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf", "a 7-Zip archive"),
    (b"Rar!", "a RAR archive"),
    (b"ID3", "an MP3 file"),
    (b"RIFF", "a RIFF (audio/video) file"),
    (b"%!PS", "a PostScript file"),
)
SUPPORTED = ".txt, .md, .html, .pdf and .docx"


class DocumentError(ValueError):
    """A document that cannot be turned into text; the message is for the user."""


class UnsupportedDocument(DocumentError):
    """A type this server does not read (images, archives, legacy Office, ...)."""


class CorruptDocument(DocumentError):
    """A file that claims a supported type but cannot be read as it."""


class EmptyDocument(DocumentError):
    """A readable document with no text in it."""


class DocumentTooLarge(DocumentError):
    """Over the page or character limit."""


@dataclass(frozen=True)
class Section:
    """Text under one heading path, e.g. ``"Returns > Damaged items"`` ("" before any)."""

    heading: str
    text: str


@dataclass(frozen=True)
class Extracted:
    """A parsed document: its title when it states one, its kind and sections in order."""

    title: str | None
    kind: str
    sections: list[Section]

    @property
    def chars(self) -> int:
        return sum(len(s.text) for s in self.sections)


def extract(
    data: bytes,
    *,
    filename: str | None,
    content_type: str | None,
    max_pages: int = MAX_PAGES,
    max_chars: int = MAX_CHARS,
) -> Extracted:
    """Parse ``data`` into sections; raise a ``DocumentError`` subclass on any problem."""
    name = filename or "the document"
    kind = detect_kind(data, filename=filename, content_type=content_type)
    if kind == "pdf":
        extracted = _pdf(data, name, max_pages, max_chars)
    elif kind == "docx":
        extracted = _docx(data, name)
    elif kind == "html":
        extracted = _html(data, content_type)
    else:
        text = _decode(data, name)
        if kind == "md":
            extracted = _markdown(text)
        else:
            extracted = Extracted(None, "txt", [Section("", _tidy(text))])
    sections = [s for s in extracted.sections if s.text.strip()]
    if not sections:
        raise EmptyDocument(f"{name} has no text to index")
    result = Extracted(extracted.title, kind, sections)
    if result.chars > max_chars:
        raise DocumentTooLarge(
            f"{name} has {result.chars:,} characters of text, over the limit of {max_chars:,}; "
            "split it into smaller documents"
        )
    return result


def detect_kind(data: bytes, *, filename: str | None, content_type: str | None) -> str:
    """One of ``KINDS`` from magic bytes, extension, content type, then a text sniff."""
    name = filename or "the document"
    head = data[:1024].lstrip()
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        if _is_docx(data):
            return "docx"
        raise UnsupportedDocument(
            f"{name} is a zip archive but not a Word .docx document; supported: {SUPPORTED}"
        )
    for magic, what in _FOREIGN_MAGIC:
        if data.startswith(magic):
            raise UnsupportedDocument(f"{name} is {what}, which cannot be indexed")
    extension = _extension(filename)
    declared = (content_type or "").split(";", 1)[0].strip().lower()
    kind = _EXTENSIONS.get(extension) or _CONTENT_TYPES.get(declared)
    if kind in ("pdf", "docx"):
        raise CorruptDocument(
            f"{name} is not a valid {kind.upper()} file (its first bytes are not those of one); "
            "it may be damaged or mislabelled"
        )
    if kind is not None:
        return kind
    if extension == ".doc":
        raise UnsupportedDocument(f"{name}: legacy .doc files are not supported; save as .docx")
    if extension and extension not in _EXTENSIONS:
        raise UnsupportedDocument(f"{name}: {extension} files are not supported ({SUPPORTED})")
    if head[:15].lower().startswith((b"<!doctype html", b"<html")):
        return "html"
    if b"\x00" in data[:8192]:
        raise UnsupportedDocument(f"{name} is a binary file of unknown type ({SUPPORTED})")
    if declared and not declared.startswith("text/"):
        raise UnsupportedDocument(f"{name}: content type {declared} is not supported ({SUPPORTED})")
    return "txt"


def _extension(filename: str | None) -> str:
    if not filename or "." not in filename.rsplit("/", 1)[-1]:
        return ""
    return "." + filename.rsplit(".", 1)[1].lower()


def _is_docx(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, ValueError):
        return False


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorruptDocument(
            f"{name} is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "save it as UTF-8 and upload it again"
        ) from None


def _tidy(text: str) -> str:
    """Strip trailing spaces, NULs and runs of blank lines."""
    lines = [line.rstrip() for line in text.replace("\x00", "").replace("\r\n", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- headings to sections ----------------------------------------------------------------


class _Builder:
    """Collects text under a stack of headings.

    A document whose only level-1 heading comes first has it as its title, kept out of
    the section paths; ``is_title`` headings (a Word Title style) are titles outright.
    """

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []
        self.lines: list[str] = []
        self.sections: list[Section] = []
        self.title: str | None = None
        self.top_level: list[str] = []
        self.first_heading: str | None = None

    def heading(self, level: int, text: str, *, is_title: bool = False) -> None:
        self._flush()
        text = _clean_heading(text)
        if not text:
            return
        if is_title:
            self.title = self.title or text
            return
        if self.first_heading is None:
            self.first_heading = text
        if level == 1:
            self.top_level.append(text)
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, text))

    def line(self, text: str) -> None:
        self.lines.append(text)

    def _flush(self) -> None:
        body = _tidy("\n".join(self.lines))
        self.lines = []
        if body:
            path = " > ".join(title for _, title in self.stack)
            self.sections.append(Section(path, body))

    def done(self, kind: str) -> Extracted:
        self._flush()
        sections = self.sections
        only = self.top_level[0] if len(self.top_level) == 1 else None
        if self.title is None and only is not None and only == self.first_heading:
            self.title = only
            sections = [Section(_drop_prefix(s.heading, only), s.text) for s in sections]
        return Extracted(self.title, kind, sections)


def _drop_prefix(path: str, title: str) -> str:
    if path == title:
        return ""
    return path[len(title) + 3 :] if path.startswith(title + " > ") else path


def _clean_heading(text: str) -> str:
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # [label](url) → label
    text = re.sub(r"[*_`]+", "", text)
    return " ".join(text.split()).strip(" #")


_ATX = re.compile(r"^ {0,3}(#{1,6})(?:\s+(.*?))?\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")


def _markdown(text: str, kind: str = "md") -> Extracted:
    builder = _Builder()
    lines = _tidy(text).split("\n")
    fenced = False
    for index, line in enumerate(lines):
        if _FENCE.match(line):
            fenced = not fenced
            builder.line(line)
            continue
        match = None if fenced else _ATX.match(line)
        underline = _SETEXT.match(lines[index + 1]) if index + 1 < len(lines) else None
        if match:
            builder.heading(len(match.group(1)), match.group(2) or "")
        elif (
            not fenced
            and underline
            and line.strip()
            and (index == 0 or not lines[index - 1].strip())
            and not line.lstrip().startswith(("-", "*", ">", "|"))
        ):
            builder.heading(1 if underline.group(1)[0] == "=" else 2, line)
        elif not fenced and _SETEXT.match(line) and index > 0 and builder.lines == []:
            continue  # the underline of a setext heading just taken
        else:
            builder.line(line)
    return builder.done(kind)


# --- HTML -----------------------------------------------------------------------------------

_DROPPED_TAGS = ("script", "style", "noscript", "template", "nav", "iframe", "svg", "canvas")


def _html(data: bytes, content_type: str | None) -> Extracted:
    from bs4 import BeautifulSoup
    from markdownify import MarkdownConverter

    encoding = None
    if content_type and "charset=" in content_type.lower():
        encoding = content_type.lower().split("charset=", 1)[1].split(";")[0].strip(" \"'")
    soup = BeautifulSoup(data, "html.parser", from_encoding=encoding)
    for tag in soup(_DROPPED_TAGS):
        tag.decompose()
    title_tag = soup.find("title")
    page_title = title_tag.get_text(" ", strip=True) if title_tag else None
    if title_tag:
        title_tag.decompose()
    converter = MarkdownConverter(
        heading_style="ATX",
        strip=["a", "img", "b", "strong", "i", "em"],
        escape_asterisks=False,
        escape_underscores=False,
        escape_misc=False,
        bullets="-",
    )
    extracted = _markdown(converter.convert_soup(soup), "html")
    return Extracted(extracted.title or page_title or None, "html", extracted.sections)


# --- PDF ------------------------------------------------------------------------------------


@dataclass
class _Line:
    text: str
    size: float
    y: float
    page: int


def _pdf(data: bytes, name: str, max_pages: int, max_chars: int) -> Extracted:
    import pypdf
    from pypdf.errors import PdfReadError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not _decrypts(reader):
            raise UnsupportedDocument(
                f"{name} is password-protected; remove the password and upload it again"
            )
        pages = len(reader.pages)
    except DocumentError:
        raise
    except (PdfReadError, Exception) as exc:
        raise CorruptDocument(f"{name} is not a readable PDF ({_reason(exc)})") from None
    if pages > max_pages:
        raise DocumentTooLarge(
            f"{name} has {pages:,} pages, over the limit of {max_pages:,}; split it"
        )
    lines: list[_Line] = []
    chars = 0
    for number, page in enumerate(reader.pages, start=1):
        try:
            page_lines = _page_lines(page, number)
        except Exception as exc:
            raise CorruptDocument(
                f"{name}: page {number} cannot be read ({_reason(exc)})"
            ) from None
        lines.extend(page_lines)
        chars += sum(len(line.text) for line in page_lines)
        if chars > max_chars:
            raise DocumentTooLarge(
                f"{name} has more than {max_chars:,} characters of text (by page {number}); "
                "split it into smaller documents"
            )
    if not lines:
        raise EmptyDocument(
            f"{name} has no extractable text (a scanned document? OCR is not supported)"
        )
    metadata_title = _metadata_title(reader)
    extracted = _pdf_sections(lines)
    return Extracted(extracted.title or metadata_title, "pdf", extracted.sections)


def _decrypts(reader: Any) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception:
        return False


def _metadata_title(reader: Any) -> str | None:
    try:
        title = reader.metadata.title if reader.metadata else None
    except Exception:
        return None
    return str(title).strip() or None if title else None


def _reason(exc: BaseException) -> str:
    return str(exc).strip() or type(exc).__name__


def _page_lines(page: Any, number: int) -> list[_Line]:
    """The page's text lines with their font sizes (from pypdf's text visitor)."""
    lines: list[_Line] = []
    current: list[tuple[str, float]] = []
    current_y: float | None = None

    def close() -> None:
        text = " ".join("".join(t for t, _ in current).split())
        if text:
            sizes = Counter[float]()
            for piece, size in current:
                sizes[round(size, 1)] += len(piece.strip())
            lines.append(_Line(text, sizes.most_common(1)[0][0], current_y or 0.0, number))
        current.clear()

    def visit(text: str, cm: list[float], tm: list[float], font: Any, size: float) -> None:
        nonlocal current_y
        scale = abs(tm[3] * cm[3]) or abs(tm[0] * cm[0]) or 1.0
        y = tm[5] * cm[3] + cm[5]
        if current and current_y is not None and abs(y - current_y) > 1.0 and text.strip():
            close()
        parts = text.split("\n")
        for index, part in enumerate(parts):
            if index > 0:
                close()
            if part:
                if not current:
                    current_y = y
                current.append((part, size * scale))

    page.extract_text(visitor_text=visit)
    close()
    return lines


def _pdf_sections(lines: list[_Line]) -> Extracted:
    """Headings from larger fonts when the body size is clear; else one section per page.

    A vertical gap well over the usual line spacing starts a new paragraph.
    """
    weights = Counter[float]()
    for line in lines:
        weights[line.size] += len(line.text)
    body = weights.most_common(1)[0][0]
    heading_sizes = sorted(
        {ln.size for ln in lines if _looks_like_heading(ln, body)}, reverse=True
    )[:6]
    level = {size: index + 1 for index, size in enumerate(heading_sizes)}
    gaps = [
        abs(a.y - b.y)
        for a, b in itertools.pairwise(lines)
        if a.page == b.page and a.size == b.size == body
    ]
    usual = statistics.median(gaps) if gaps else 0.0
    builder = _Builder()
    pending: list[_Line] = []
    previous: _Line | None = None
    for line in lines:
        if not level and (previous is None or previous.page != line.page):
            builder.heading(1, f"Page {line.page}")
        elif line.size in level and _looks_like_heading(line, body):
            if pending and pending[-1].size == line.size and pending[-1].page == line.page:
                pending.append(line)  # a heading wrapped over two lines
                continue
            _emit(builder, pending, level)
            pending, previous = [line], None
            continue
        _emit(builder, pending, level)
        pending = []
        gap = abs(previous.y - line.y) if previous is not None else 0.0
        if previous is not None and previous.page == line.page and usual and gap > usual * 1.4:
            builder.line("")
        builder.line(line.text)
        previous = line
    _emit(builder, pending, level)
    return builder.done("pdf")


def _emit(builder: _Builder, heading: list[_Line], level: dict[float, int]) -> None:
    if heading:
        builder.heading(level[heading[0].size], " ".join(line.text for line in heading))


def _looks_like_heading(line: _Line, body: float) -> bool:
    return (
        line.size >= body * 1.15 and len(line.text) <= 150 and any(c.isalpha() for c in line.text)
    )


# --- Word .docx -----------------------------------------------------------------------------

_HEADING_STYLE = re.compile(r"^heading\s*([1-6])$", re.IGNORECASE)


def _docx(data: bytes, name: str) -> Extracted:
    import docx
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    _check_unzipped_size(data, name)
    try:
        document = docx.Document(io.BytesIO(data))
        blocks = list(document.iter_inner_content())
    except Exception as exc:
        raise CorruptDocument(f"{name} is not a readable Word document ({_reason(exc)})") from None
    builder = _Builder()
    core_title = (document.core_properties.title or "").strip() or None
    for block in blocks:
        if isinstance(block, Paragraph):
            style = (block.style.name if block.style is not None else "") or ""
            text = block.text.strip()
            heading = _HEADING_STYLE.match(style)
            if style.lower() == "title" and text:
                builder.heading(1, text, is_title=True)
            elif heading and text:
                builder.heading(int(heading.group(1)), text)
            else:
                builder.line(text)
                builder.line("")
        elif isinstance(block, Table):
            _docx_table(block, builder.line)
            builder.line("")
    extracted = builder.done("docx")
    return Extracted(extracted.title or core_title, "docx", extracted.sections)


def _docx_table(table: Any, emit: Callable[[str], None]) -> None:
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            text = " ".join(cell.text.split())
            if text and (not cells or cells[-1] != text):  # merged cells repeat
                cells.append(text)
        if cells:
            emit(" | ".join(cells))


def _check_unzipped_size(data: bytes, name: str) -> None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            total = sum(info.file_size for info in archive.infolist())
    except zipfile.BadZipFile as exc:
        raise CorruptDocument(f"{name} is not a readable Word document ({exc})") from None
    if total > MAX_UNZIPPED_BYTES:
        raise DocumentTooLarge(
            f"{name} unpacks to {total:,} bytes, over the limit of {MAX_UNZIPPED_BYTES:,}"
        )
