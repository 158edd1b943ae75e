"""PDF: the text layer of each page, read with pypdfium2 (PDFium, the engine
in Chrome): about 2.5x faster than pypdf on our fixtures and tolerant of
damaged files. Page numbers go into metadata so citations say "p. 12"."""

from __future__ import annotations

import re
from pathlib import Path

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document
from ragkit.indexers.optional import require

# A word broken across lines by a hyphen: "docu-\nment".
_HYPHENATED = re.compile(r"(\w)-\n([a-z])")


class PdfLoader:
    kind = "pdf"
    suffixes = frozenset({".pdf"})
    version = 1

    def load(self, path: Path, data: bytes) -> Document:
        require("pypdfium2", "PDF", "pdf")
        import pypdfium2 as pdfium

        if not data:
            raise DocumentError(str(path), "empty file")
        try:
            pdf = pdfium.PdfDocument(data)
        except pdfium.PdfiumError as exc:
            if "password" in str(exc).lower():
                raise DocumentError(str(path), "encrypted PDF: save an unprotected copy to index it") from None
            raise DocumentError(str(path), "corrupt or not a PDF: open and re-save it, then ingest again") from None
        writer = BlockWriter(path, self.kind)
        try:
            for number in range(1, len(pdf) + 1):
                page = pdf[number - 1]
                textpage = page.get_textpage()
                try:
                    text = textpage.get_text_range()
                finally:
                    textpage.close()
                    page.close()
                text = _HYPHENATED.sub(r"\1\2", text.replace("\r\n", "\n").replace("\r", "\n"))
                for paragraph in re.split(r"\n\s*\n", text):
                    writer.text("\n".join(line.rstrip() for line in paragraph.splitlines() if line.strip()), number)
        except pdfium.PdfiumError as exc:
            raise DocumentError(str(path), f"damaged PDF page: {exc}") from None
        finally:
            pdf.close()
        if not writer.doc.blocks:
            raise DocumentError(str(path), "no text layer (a scanned PDF?): run OCR on it first, e.g. with ocrmypdf")
        return writer.doc
