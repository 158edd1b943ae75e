"""Legacy binary Office formats. Excel 97-2003 (.xls) is read by xlrd, pure
Python. Word (.doc) and PowerPoint (.ppt) are converted by LibreOffice to
.docx/.pptx and read by those loaders, keeping headings, tables, slides and
notes; without LibreOffice the file is skipped with the line to install it."""

from __future__ import annotations

from pathlib import Path

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext
from ragkit.indexers.optional import require
from ragkit.indexers.spreadsheet import render_row

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _check_ole(path: Path, data: bytes, what: str) -> None:
    if not data.strip():
        raise DocumentError(str(path), "empty file")
    if not data.startswith(_OLE):
        raise DocumentError(str(path), f"corrupt or not a {what} file (no OLE header): open and re-save it")


def _with_kind(doc: Document, kind: str) -> Document:
    doc.kind = kind
    return doc


class DocLoader:
    kind = "doc"
    suffixes = frozenset({".doc", ".dot"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        from ragkit.indexers.docx import DocxLoader

        _check_ole(path, data, "Word 97-2003 (.doc)")
        converted = ctx.converter().convert(path, data, "docx", "Word 97-2003 (.doc)")
        return _with_kind(DocxLoader().load(path, converted, ctx), self.kind)


class PptLoader:
    kind = "ppt"
    suffixes = frozenset({".ppt", ".pps", ".pot"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        from ragkit.indexers.pptx import PptxLoader

        _check_ole(path, data, "PowerPoint 97-2003 (.ppt)")
        converted = ctx.converter().convert(path, data, "pptx", "PowerPoint 97-2003 (.ppt)")
        return _with_kind(PptxLoader().load(path, converted, ctx), self.kind)


class XlsLoader:
    kind = "xls"
    suffixes = frozenset({".xls", ".xlt"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        require("xlrd", "Excel 97-2003 (.xls)", "office")
        import xlrd

        _check_ole(path, data, "Excel 97-2003 (.xls)")
        try:
            book = xlrd.open_workbook(file_contents=data, on_demand=True)
        except Exception as exc:  # xlrd raises XLRDError, CompDocError, struct and index errors for damaged files
            raise DocumentError(str(path), f"corrupt Excel .xls file ({exc.__class__.__name__}): re-save it") from None
        writer = BlockWriter(path, self.kind)
        try:
            for index in range(book.nsheets):
                sheet = book.sheet_by_index(index)
                writer.reset_headings(f"Sheet {sheet.name}")
                header: list[str] | None = None
                rows = 0
                for r in range(sheet.nrows):
                    row = [_cell(book, sheet.cell(r, c)) for c in range(sheet.ncols)]
                    if not any(row):
                        continue
                    if header is None:
                        header = [" ".join(v.split()) for v in row]
                        continue
                    writer.text(render_row(header, row), same_paragraph=True)
                    rows += 1
                if header is not None and not rows:
                    writer.text(" | ".join(h for h in header if h))
                book.unload_sheet(index)
        finally:
            book.release_resources()
        if not writer.doc.blocks:
            raise DocumentError(str(path), "no text to index (all sheets are empty)")
        return writer.doc


def _cell(book: object, cell: object) -> str:
    import xlrd

    kind = getattr(cell, "ctype", None)
    value = getattr(cell, "value", "")
    if kind == xlrd.XL_CELL_EMPTY or value is None:
        return ""
    if kind == xlrd.XL_CELL_NUMBER and float(value).is_integer():
        return str(int(value))
    if kind == xlrd.XL_CELL_DATE:
        try:
            moment = xlrd.xldate.xldate_as_datetime(value, book.datemode)  # type: ignore[attr-defined]
            return str(moment.isoformat(sep=" "))
        except (ValueError, OverflowError, xlrd.xldate.XLDateError):
            return str(value)
    if kind == xlrd.XL_CELL_BOOLEAN:
        return "TRUE" if value else "FALSE"
    if kind == xlrd.XL_CELL_ERROR:
        return ""
    return " ".join(str(value).split())
