"""Word documents (.docx) with python-docx: paragraphs and tables in
document order, "Heading N" and "Title" styles as the heading path."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext
from ragkit.indexers.ooxml import as_plain, check_not_encrypted
from ragkit.indexers.optional import require
from ragkit.indexers.spreadsheet import render_table

_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.IGNORECASE)


def _table_rows(table: Any) -> list[str]:
    return render_table([[cell.text.strip() for cell in row.cells] for row in table.rows])


class DocxLoader:
    kind = "docx"
    suffixes = frozenset({".docx", ".docm", ".dotx", ".dotm"})
    version = 2  # 2: password-protected files named, macro-enabled variants read

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        require("docx", "Word (.docx)", "office")
        import docx
        from docx.table import Table

        check_not_encrypted(path, data, "Word")
        try:
            document = docx.Document(io.BytesIO(as_plain(data, "docx")))
        except Exception:  # python-docx raises zipfile, KeyError and lxml errors for bad files
            raise DocumentError(str(path), "corrupt or not a Word .docx file: open and re-save it in Word") from None
        writer = BlockWriter(path, self.kind)
        for item in document.iter_inner_content():
            if isinstance(item, Table):
                for row in _table_rows(item):
                    writer.text(row, same_paragraph=True)
                continue
            text = item.text.strip()
            style = (item.style.name if item.style is not None else "") or ""
            heading = _HEADING_STYLE.match(style)
            if style.lower() == "title":
                writer.heading(0, text)
            elif heading:
                writer.heading(int(heading.group(1)), text)
            elif style.lower().startswith("list"):
                writer.text("- " + text, same_paragraph=True)
            else:
                writer.text(text)
        if not writer.doc.blocks:
            raise DocumentError(str(path), "no text to index")
        return writer.doc
