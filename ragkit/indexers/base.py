"""What every loader produces: a document as a list of structural blocks
(paragraphs, code, headings, table rows) with their place in the file: line
span for text files, page or slide for PDF and PowerPoint, heading path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ragkit.indexers.convert import OfficeConverter
    from ragkit.indexers.ocr import OcrEngine


@dataclass(frozen=True)
class Block:
    text: str
    start_line: int
    """1-based, inclusive. For formats without lines (PDF, DOCX, ...) a running
    number that only orders blocks and marks paragraph gaps."""
    end_line: int
    headings: tuple[str, ...] = ()
    """Headings above this block; a heading block's own title is not included."""
    is_heading: bool = False
    page: int | None = None
    """PDF page or slide number, 1-based."""
    is_code: bool = False
    """Split only between lines, never inside one."""


@dataclass
class Document:
    path: Path
    kind: str
    blocks: list[Block] = field(default_factory=list)
    has_lines: bool = True
    """False when start_line/end_line are not the file's own line numbers."""
    ocr_pages: int = 0
    """Pages (or images) whose text was recognised by OCR."""


class ParserServices:
    """Engines that are slow to start and shared by every file one parser
    process reads: the OCR engine and the LibreOffice converter, each created
    on first use. `ocr` is "auto" (use an installed engine) or "off"."""

    def __init__(self, *, ocr: str = "auto", ocr_dpi: int = 300, ocr_threads: int | None = None) -> None:
        self.ocr_mode = ocr
        self.ocr_dpi = ocr_dpi
        self.ocr_threads = ocr_threads
        self._ocr: OcrEngine | None = None
        self._converter: OfficeConverter | None = None

    def ocr(self) -> OcrEngine:
        """The OCR engine; raises DocumentError naming the install line when there is none."""
        if self._ocr is None:
            from ragkit.indexers.ocr import open_ocr_engine

            self._ocr = open_ocr_engine(self.ocr_mode, threads=self.ocr_threads)
        return self._ocr

    def converter(self) -> OfficeConverter:
        if self._converter is None:
            from ragkit.indexers.convert import OfficeConverter

            self._converter = OfficeConverter()
        return self._converter

    def close(self) -> None:
        if self._converter is not None:
            self._converter.close()
            self._converter = None


class LoadContext:
    """What a loader may use besides the file's bytes: a way to say it is still
    making progress (a parser that shows none for the time limit is stopped),
    and the shared engines (OCR, LibreOffice)."""

    def __init__(
        self, on_progress: Callable[[str], None] | None = None, services: ParserServices | None = None
    ) -> None:
        self._on_progress = on_progress
        self.services = services or ParserServices()

    def progress(self, note: str) -> None:
        """Tell the ingest this file is still being read ("OCR page 3 of 12")."""
        if self._on_progress is not None:
            self._on_progress(note)

    def ocr(self) -> OcrEngine:
        return self.services.ocr()

    def converter(self) -> OfficeConverter:
        return self.services.converter()


class Loader(Protocol):
    kind: str
    suffixes: frozenset[str]
    version: int
    """Bump when the loader's output changes, so ingest re-reads those files."""

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document: ...


class BlockWriter:
    """Builds a Document for formats without line numbers: each block gets a
    running line span, with a gap between paragraphs so chunk text joins them
    with a blank line, and headings tracked by level."""

    def __init__(self, path: Path, kind: str) -> None:
        self.doc = Document(path, kind, has_lines=False)
        self._line = 1
        self._stack: list[tuple[int, str]] = []

    @property
    def headings(self) -> tuple[str, ...]:
        return tuple(title for _, title in self._stack)

    def heading(self, level: int, title: str, page: int | None = None) -> None:
        title = " ".join(title.split())
        if not title:
            return
        while self._stack and self._stack[-1][0] >= level:
            self._stack.pop()
        self._add(title, page, is_heading=True)
        self._stack.append((level, title))

    def reset_headings(self, *titles: str) -> None:
        """Start a new top-level section (a slide, a sheet, a message)."""
        self._stack = [(i, t) for i, t in enumerate(titles) if t]

    def text(self, text: str, page: int | None = None, *, is_code: bool = False, same_paragraph: bool = False) -> None:
        text = text.strip("\n")
        if not text.strip():
            return
        if same_paragraph and self.doc.blocks and not self.doc.blocks[-1].is_heading:
            self._line -= 1  # joins the previous block with a newline, not a blank line
        self._add(text, page, is_code=is_code)

    def _add(self, text: str, page: int | None, *, is_heading: bool = False, is_code: bool = False) -> None:
        lines = text.count("\n") + 1
        start = self._line
        self.doc.blocks.append(
            Block(text, start, start + lines - 1, self.headings, is_heading=is_heading, page=page, is_code=is_code)
        )
        self._line = start + lines + 1


_BOMS = (
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe", "utf-16"),
    (b"\xfe\xff", "utf-16"),
)
# Legacy encodings preferred when the detector finds several equally clean decodings of
# a short text (it cannot tell Latin-1 from Baltic code pages on one sentence of French).
_PREFERRED = ("utf_8", "cp1252", "latin_1", "iso8859_15")
_CONTROL = frozenset(chr(c) for c in range(32) if chr(c) not in "\t\n\r\f\v") | {"\x7f"}


def _wide_encoding(data: bytes) -> str | None:
    """UTF-16 or UTF-32 without a byte-order mark, from where its zero bytes fall:
    text in the Latin, Greek or Cyrillic ranges has a zero in every unit's high bytes."""
    sample = data[:8192]
    if len(sample) < 4:
        return None
    for width, names in ((4, ("utf-32-le", "utf-32-be")), (2, ("utf-16-le", "utf-16-be"))):
        units = len(sample) // width
        if units == 0:
            continue
        if width == 4:
            high_le = sum(1 for i in range(units) if sample[i * 4 + 2 : i * 4 + 4] == b"\0\0")
            high_be = sum(1 for i in range(units) if sample[i * 4 : i * 4 + 2] == b"\0\0")
        else:
            high_le = sample[1 : units * 2 : 2].count(0)
            high_be = sample[0 : units * 2 : 2].count(0)
        for count, name in ((high_le, names[0]), (high_be, names[1])):
            if count >= 0.6 * units:
                try:
                    data[: len(data) - len(data) % width].decode(name)
                except UnicodeDecodeError:
                    continue
                return name
    return None


def _detect(data: bytes) -> str | None:
    """The encoding of a text without a byte-order mark, or None for binary data."""
    wide = _wide_encoding(data)
    if wide:
        return wide
    if b"\x00" in data[:8192]:
        return None
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(data) - 3 and len(data) > 64:
            return "utf-8"  # a UTF-8 file cut inside its last character
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data[:262144]))
    if not matches:
        return None
    best = matches[0]
    cleanest = [m for m in matches if m.chaos <= best.chaos + 0.01]
    for name in _PREFERRED:
        for match in cleanest:
            if match.encoding == name or name in match.could_be_from_charset:
                return name
    return str(best.encoding)


def text_encoding(data: bytes) -> str | None:
    """The encoding `decode_text` would read `data` with, or None when it is not text."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            return name
    return _detect(data)


def decode_text(path: Path, data: bytes) -> str:
    """Decode a text file in any common encoding (UTF-8/16/32 with or without a
    byte-order mark, legacy 8-bit and CJK code pages, detected by
    charset-normalizer), or raise DocumentError with the reason it is not text."""
    from ragkit.errors import DocumentError

    if not data.strip():
        raise DocumentError(str(path), "empty file")
    encoding = text_encoding(data)
    if encoding is None:
        raise DocumentError(str(path), "binary content in a text file")
    text = data.decode(encoding, errors="replace")
    if not text.strip():
        raise DocumentError(str(path), "empty file")
    sample = text[:8192]
    if sum(1 for ch in sample if ch in _CONTROL) > 0.05 * len(sample):
        raise DocumentError(str(path), "binary content in a text file")
    return text.lstrip("\ufeff")
