"""Legacy binary Office formats. Excel 97-2003 (.xls) is read by xlrd, pure
Python. Word (.doc) and PowerPoint (.ppt) are converted by LibreOffice to
.docx/.pptx and read by those loaders, keeping headings, tables, slides and
notes; without LibreOffice the file is skipped with the line to install it."""

from __future__ import annotations

from pathlib import Path

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext, Loader
from ragkit.indexers.optional import require
from ragkit.indexers.spreadsheet import add_sheet

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _check_ole(path: Path, data: bytes, what: str) -> None:
    if not data.strip():
        raise DocumentError(str(path), "empty file")
    if not data.startswith(_OLE):
        raise DocumentError(str(path), f"corrupt or not a {what} file (no OLE header): open and re-save it")


class _ConvertedLoader:
    """A legacy format read by converting it with LibreOffice to its OOXML successor."""

    kind = ""
    suffixes: frozenset[str] = frozenset()
    version = 1
    target = ""
    what = ""

    def successor(self) -> Loader:
        raise NotImplementedError

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        _check_ole(path, data, self.what)
        converted = ctx.converter().convert(path, data, self.target, self.what)
        doc = self.successor().load(path, converted, ctx)
        doc.kind = self.kind
        return doc


class DocLoader(_ConvertedLoader):
    kind = "doc"
    suffixes = frozenset({".doc", ".dot"})
    target = "docx"
    what = "Word 97-2003 (.doc)"

    def successor(self) -> Loader:
        from ragkit.indexers.docx import DocxLoader

        return DocxLoader()


class PptLoader(_ConvertedLoader):
    kind = "ppt"
    suffixes = frozenset({".ppt", ".pps", ".pot"})
    target = "pptx"
    what = "PowerPoint 97-2003 (.ppt)"

    def successor(self) -> Loader:
        from ragkit.indexers.pptx import PptxLoader

        return PptxLoader()


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
                rows = ([_cell(book, sheet.cell(r, c)) for c in range(sheet.ncols)] for r in range(sheet.nrows))
                add_sheet(writer, sheet.name, rows)
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
