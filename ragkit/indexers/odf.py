"""OpenDocument (.odt, .ods, .odp: LibreOffice, OpenOffice, Google Docs
exports) read from the package's own content.xml with lxml: no extra
parser needed. Text documents keep their outline headings, lists and tables
("header: value" rows); spreadsheets one heading per sheet and each row as
"header: value"; presentations one section per slide with its notes."""

from __future__ import annotations

import io
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext
from ragkit.indexers.spreadsheet import add_sheet, render_table

_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "table": "urn:oasis:names:tc:opendocument:xmlns:table:1.0",
    "draw": "urn:oasis:names:tc:opendocument:xmlns:drawing:1.0",
    "presentation": "urn:oasis:names:tc:opendocument:xmlns:presentation:1.0",
}
# A decompressed content.xml larger than this is a zip bomb, not a document.
_MAX_CONTENT_BYTES = 256 * 1024 * 1024
# Spreadsheets repeat empty rows and columns by count ("1,048,576 empty rows"): never expand those.
_MAX_REPEAT = 64


def _q(prefix: str, name: str) -> str:
    return f"{{{_NS[prefix]}}}{name}"


_P, _H, _SPACE, _TAB, _BREAK = (_q("text", n) for n in ("p", "h", "s", "tab", "line-break"))
_LIST, _LIST_ITEM = _q("text", "list"), _q("text", "list-item")
_TABLE, _ROW, _CELL, _COVERED = (_q("table", n) for n in ("table", "table-row", "table-cell", "covered-table-cell"))
_SKIP_TEXT = frozenset({_q("text", "note-citation"), _q("office", "annotation"), _q("text", "tracked-changes")})


def _content(path: Path, data: bytes) -> Any:
    """The document's XML: content.xml of a package, or a flat ODF file (.fodt) itself."""
    from lxml import etree

    if data.lstrip().startswith(b"<"):
        xml = data
    else:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as package:
                manifest = "META-INF/manifest.xml"
                if manifest in package.namelist() and b"encryption-data" in package.read(manifest):
                    raise DocumentError(str(path), "password-protected OpenDocument file: save an unprotected copy")
                info = package.getinfo("content.xml")
                if info.file_size > _MAX_CONTENT_BYTES:
                    raise DocumentError(str(path), f"content.xml unpacks to {info.file_size / 1e6:.0f} MB: too large")
                xml = package.read(info)
        except (zipfile.BadZipFile, KeyError, OSError, EOFError, ValueError, NotImplementedError, zlib.error):
            raise DocumentError(str(path), "corrupt or not an OpenDocument file: open and re-save it") from None
    parser = etree.XMLParser(resolve_entities=False, no_network=True, recover=True, huge_tree=False)
    try:
        root = etree.fromstring(xml, parser)
    except etree.XMLSyntaxError:
        root = None
    if root is None:
        raise DocumentError(str(path), "corrupt OpenDocument content (unreadable XML): open and re-save it")
    return root


def inline_text(element: Any) -> str:
    """An element's text with ODF's space, tab and line-break elements expanded."""
    parts: list[str] = []

    def visit(node: Any) -> None:
        if node.text:
            parts.append(node.text)
        for child in node:
            tag = child.tag
            if tag == _SPACE:
                parts.append(" " * min(int(child.get(_q("text", "c"), "1") or 1), 16))
            elif tag == _TAB:
                parts.append("\t")
            elif tag == _BREAK:
                parts.append("\n")
            elif tag not in _SKIP_TEXT:
                visit(child)
            if child.tail:
                parts.append(child.tail)

    visit(element)
    return "".join(parts).strip()


def _table_rows(table: Any) -> list[list[str]]:
    rows: list[list[str]] = []
    for row in table.iter(_ROW):
        cells: list[str] = []
        for cell in row:
            if cell.tag not in (_CELL, _COVERED):
                continue
            text = "\n".join(inline_text(p) for p in cell.iter(_P, _H))
            repeat = int(cell.get(_q("table", "number-columns-repeated"), "1") or 1)
            cells.extend([text] * (min(repeat, _MAX_REPEAT) if text else 1))
        while cells and not cells[-1]:
            cells.pop()
        if cells:
            repeat = int(row.get(_q("table", "number-rows-repeated"), "1") or 1)
            rows.extend([cells] * min(repeat, _MAX_REPEAT))
    return rows


def _body(root: Any, kind: str) -> Any:
    body = root.find(f"{_q('office', 'body')}/{_q('office', kind)}")
    if body is None:
        raise DocumentError("", f"not an OpenDocument {kind} (no office:{kind} body)")
    return body


def _walk_text(writer: BlockWriter, element: Any, page: int | None = None, list_depth: int = 0) -> None:
    for child in element:
        tag = child.tag
        if tag == _H:
            level = int(child.get(_q("text", "outline-level"), "1") or 1)
            writer.heading(level, inline_text(child), page)
        elif tag == _P:
            text = inline_text(child)
            if list_depth:
                writer.text("  " * (list_depth - 1) + "- " + text, page, same_paragraph=True)
            else:
                writer.text(text, page)
        elif tag == _TABLE:
            for row in render_table(_table_rows(child)):
                writer.text(row, page, same_paragraph=True)
        elif tag == _LIST:
            _walk_text(writer, child, page, list_depth + 1)
        elif tag not in _SKIP_TEXT:
            _walk_text(writer, child, page, list_depth)  # sections, list items, frames, text boxes


class OdtLoader:
    kind = "odt"
    suffixes = frozenset({".odt", ".ott", ".fodt"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        writer = BlockWriter(path, self.kind)
        _walk_text(writer, _body(_content(path, data), "text"))
        if not writer.doc.blocks:
            raise DocumentError(str(path), "no text to index")
        return writer.doc


class OdsLoader:
    kind = "ods"
    suffixes = frozenset({".ods", ".ots", ".fods"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        writer = BlockWriter(path, self.kind)
        for sheet in _body(_content(path, data), "spreadsheet").iter(_TABLE):
            add_sheet(writer, sheet.get(_q("table", "name"), ""), _table_rows(sheet))
        if not writer.doc.blocks:
            raise DocumentError(str(path), "no text to index (all sheets are empty)")
        return writer.doc


def _slides(body: Any) -> Iterator[tuple[int, Any]]:
    yield from enumerate(body.iter(_q("draw", "page")), 1)


class OdpLoader:
    kind = "odp"
    suffixes = frozenset({".odp", ".otp", ".fodp"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        writer = BlockWriter(path, self.kind)
        notes_tag = _q("presentation", "notes")
        for number, slide in _slides(_body(_content(path, data), "presentation")):
            writer.reset_headings()
            notes = slide.find(notes_tag)
            if notes is not None:
                slide.remove(notes)
            texts = [inline_text(p) for p in slide.iter(_P, _H)]
            texts = [t for t in texts if t]
            title = texts[0] if texts else f"Slide {number}"
            writer.heading(1, title if len(title) <= 120 else f"Slide {number}", page=number)
            for frame_text in texts[1:] if texts and title == texts[0] else texts:
                writer.text(frame_text, number)
            if notes is not None:
                note_text = "\n".join(t for t in (inline_text(p) for p in notes.iter(_P)) if t)
                if note_text:
                    writer.text("Notes: " + note_text, number)
        if not writer.doc.blocks:
            raise DocumentError(str(path), "no text to index")
        return writer.doc
