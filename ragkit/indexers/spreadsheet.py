"""Tables: .csv and .tsv (stdlib csv) and .xlsx (openpyxl, read-only
streaming). Each row is rendered as "header: value; header: value" so a
chunk of rows still says what each number means; sheet names are headings."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ragkit.errors import DocumentError
from ragkit.indexers.base import Block, BlockWriter, Document, LoadContext, decode_text
from ragkit.indexers.ooxml import as_plain, check_not_encrypted
from ragkit.indexers.optional import require


def render_row(header: list[str], row: Iterable[Any]) -> str:
    cells = ["" if v is None else " ".join(str(v).split()) for v in row]
    parts = []
    for i, value in enumerate(cells):
        if not value:
            continue
        name = header[i] if i < len(header) else ""
        parts.append(f"{name}: {value}" if name else value)
    return "; ".join(parts)


def render_table(rows: list[list[str]]) -> list[str]:
    """A table from a document (Word, PowerPoint): the first row as the header of
    the others, or cells joined by " | " when there is nothing to head."""
    rows = [r for r in rows if any(r)]
    if len(rows) < 2:
        return [" | ".join(c for c in r if c) for r in rows]
    return [render_row(rows[0], row) for row in rows[1:]]


def add_sheet(writer: BlockWriter, name: str, rows: Iterable[Sequence[Any]]) -> None:
    """One sheet under the heading "Sheet NAME": its first non-empty row is the header,
    each later row "header: value; ..."; a sheet with only a header keeps it."""
    writer.reset_headings(f"Sheet {name}".strip())
    header: list[str] | None = None
    written = 0
    for row in rows:
        if not any(v is not None and str(v).strip() for v in row):
            continue
        if header is None:
            header = ["" if v is None else " ".join(str(v).split()) for v in row]
            continue
        writer.text(render_row(header, row), same_paragraph=True)
        written += 1
    if header is not None and not written:
        writer.text(" | ".join(h for h in header if h))


class CsvLoader:
    kind = "csv"
    suffixes = frozenset({".csv", ".tsv", ".tab"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        text = decode_text(path, data)
        delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else None
        if delimiter is None:
            try:
                delimiter = csv.Sniffer().sniff(text[:16384], delimiters=",;\t|").delimiter
            except csv.Error:
                delimiter = ","
        reader = csv.reader(io.StringIO(text), delimiter=delimiter)
        doc = Document(path, self.kind)
        header: list[str] | None = None
        start = 1
        try:
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    start = line + 1
                    continue
                if header is None:
                    header = [" ".join(c.split()) for c in row]
                    start = line + 1
                    continue
                doc.blocks.append(Block(render_row(header, row), start, line))
                start = line + 1
        except csv.Error as exc:
            raise DocumentError(str(path), f"malformed CSV at line {reader.line_num}: {exc}") from None
        if not doc.blocks and header:
            doc.blocks.append(Block(" | ".join(header), 1, 1))
        return doc


def _rows(sheet: Any) -> Iterator[tuple[Any, ...]]:
    yield from sheet.iter_rows(values_only=True)


class XlsxLoader:
    kind = "xlsx"
    suffixes = frozenset({".xlsx", ".xlsm", ".xltx", ".xltm"})
    version = 2  # 2: password-protected files named, macro-enabled variants read

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        require("openpyxl", "Excel (.xlsx)", "office")
        import openpyxl

        check_not_encrypted(path, data, "Excel")
        try:
            book = openpyxl.load_workbook(io.BytesIO(as_plain(data, "xlsx")), read_only=True, data_only=True)
        except Exception:  # zipfile, KeyError, InvalidFileException for bad files
            raise DocumentError(str(path), "corrupt or not an Excel .xlsx file: re-save it, then ingest") from None
        writer = BlockWriter(path, self.kind)
        try:
            for sheet in book.worksheets:
                add_sheet(writer, sheet.title, _rows(sheet))
        finally:
            book.close()
        if not writer.doc.blocks:
            raise DocumentError(str(path), "no text to index (all sheets are empty)")
        return writer.doc
