"""PDF: the text layer of each page, read with pypdfium2 (PDFium, the engine
in Chrome): about 2.5x faster than pypdf on our fixtures and tolerant of
damaged files. Page numbers go into metadata so citations say "p. 12"."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext
from ragkit.indexers.images import add_ocr_text
from ragkit.indexers.optional import require

# A word broken across lines by a hyphen: "docu-\nment".
_HYPHENATED = re.compile(r"(\w)-\n([a-z])")


def _ocr_page(page: Any, ctx: LoadContext, writer: BlockWriter, number: int, pages: int) -> None:
    ctx.progress(f"OCR page {number} of {pages}")
    image = page.render(scale=ctx.services.ocr_dpi / 72).to_pil()
    add_ocr_text(writer, ctx.ocr().read(image), number)
    writer.doc.ocr_pages += 1


class PdfLoader:
    kind = "pdf"
    suffixes = frozenset({".pdf"})
    version = 2  # 2: pages without a text layer are read by OCR

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
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
        without_text: list[int] = []
        no_ocr: DocumentError | None = None
        try:
            pages = len(pdf)
            for number in range(1, pages + 1):
                page = pdf[number - 1]
                try:
                    textpage = page.get_textpage()
                    try:
                        text = textpage.get_text_range()
                    finally:
                        textpage.close()
                    if not text.strip():
                        # Only pages with no text layer at all are OCR'd: a page with one is read as it is.
                        without_text.append(number)
                        if no_ocr is None:
                            try:
                                _ocr_page(page, ctx, writer, number, pages)
                            except DocumentError as exc:
                                no_ocr = exc
                        continue
                finally:
                    page.close()
                if number % 20 == 0:
                    ctx.progress(f"page {number} of {pages}")
                text = _HYPHENATED.sub(r"\1\2", text.replace("\r\n", "\n").replace("\r", "\n"))
                for paragraph in re.split(r"\n\s*\n", text):
                    writer.text("\n".join(line.rstrip() for line in paragraph.splitlines() if line.strip()), number)
        except pdfium.PdfiumError as exc:
            raise DocumentError(str(path), f"damaged PDF page: {exc}") from None
        finally:
            pdf.close()
        if not writer.doc.blocks:
            if no_ocr is not None:
                raise DocumentError(str(path), f"no text layer (a scanned PDF?): it {no_ocr.reason}")
            if without_text:
                raise DocumentError(str(path), "no text found, not even by OCR (blank or image-only pages)")
            raise DocumentError(str(path), "no text to index")
        return writer.doc
