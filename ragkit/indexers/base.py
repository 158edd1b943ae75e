"""What every loader produces: a document as a list of structural blocks
(paragraphs, code, headings, table rows) with their place in the file: line
span for text files, page or slide for PDF and PowerPoint, heading path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


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


class Loader(Protocol):
    kind: str
    suffixes: frozenset[str]
    version: int
    """Bump when the loader's output changes, so ingest re-reads those files."""

    def load(self, path: Path, data: bytes) -> Document: ...


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


def decode_text(path: Path, data: bytes) -> str:
    """Decode a text file, or raise DocumentError with the reason it is not text."""
    from ragkit.errors import DocumentError

    if not data.strip():
        raise DocumentError(str(path), "empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise DocumentError(str(path), "broken UTF-16 text") from None
    if b"\x00" in data[:8192]:
        raise DocumentError(str(path), "binary content in a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Latin-1 decodes any byte string; legacy text files are mostly that.
        return data.decode("latin-1")
