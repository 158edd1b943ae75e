"""Legacy binary Office formats. Excel 97-2003 (.xls) is read by xlrd, pure
Python. Word (.doc) and PowerPoint (.ppt) are converted by LibreOffice to
.docx/.pptx and read by those loaders, keeping headings, tables, slides and
notes; without LibreOffice the file is skipped with the line to install it."""

from __future__ import annotations

import contextlib
from pathlib import Path

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext, Loader
from ragkit.indexers.optional import require
from ragkit.indexers.spreadsheet import add_sheet

_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _as_text(path: Path, data: bytes, ctx: LoadContext) -> Document | None:
    """The file read as plain text when it is text, else None."""
    from ragkit.indexers.base import text_encoding
    from ragkit.indexers.text import PlainTextLoader

    if text_encoding(data[:65536]) is None:
        return None
    try:
        return PlainTextLoader().load(path, data, ctx)
    except DocumentError:
        return None


class _ConvertedLoader:
    """A legacy format read by converting it with LibreOffice to its OOXML successor."""

    kind = ""
    suffixes: frozenset[str] = frozenset()
    version = 1
    target = ""
    what = ""

    def successor(self) -> Loader:
        raise NotImplementedError

    needs_ole = True
    """The format is an OLE compound file: other content under its suffix is something else."""

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        if not data.strip():
            raise DocumentError(str(path), "empty file")
        if self.needs_ole and not data.startswith(_OLE):
            text = _as_text(path, data, ctx)
            if text is not None:
                return text  # a text file under an Office suffix (.dot is also Graphviz's)
            # Else let LibreOffice judge by content: it also reads WordPerfect and Works files saved as .doc.
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


class WriterLoader(_ConvertedLoader):
    """Other word processors' files LibreOffice reads: WordPerfect, Works, Write, StarOffice."""

    kind = "wordprocessor"
    suffixes = frozenset({".wpd", ".wps", ".wri", ".sxw"})
    target = "docx"
    what = "word processor"
    needs_ole = False

    def successor(self) -> Loader:
        from ragkit.indexers.docx import DocxLoader

        return DocxLoader()


class XlsLoader:
    kind = "xls"
    suffixes = frozenset({".xls", ".xlt"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        require("xlrd", "Excel 97-2003 (.xls)", "office")
        import xlrd

        if not data.strip():
            raise DocumentError(str(path), "empty file")
        try:  # OLE files and the bare BIFF2-4 streams of old Excel versions
            book = xlrd.open_workbook(file_contents=data, on_demand=True)
        except Exception as exc:  # xlrd raises XLRDError, CompDocError, struct and index errors for damaged files
            if not data.startswith(_OLE):  # a CSV or text export saved as .xls
                from ragkit.indexers.spreadsheet import CsvLoader

                with contextlib.suppress(DocumentError):
                    if _as_text(path, data, ctx) is not None:
                        return CsvLoader().load(path, data, ctx)
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
