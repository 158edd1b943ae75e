"""E-books (.epub) with EbookLib: chapters in reading (spine) order, each an
XHTML page read like HTML; the book title and chapter titles are headings."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext
from ragkit.indexers.html import add_html
from ragkit.indexers.optional import require


class EpubLoader:
    kind = "epub"
    suffixes = frozenset({".epub"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        require("ebooklib", "EPUB", "epub")
        import ebooklib
        from ebooklib import epub

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # EbookLib warns about its own future defaults
                book = epub.read_epub(io.BytesIO(data), options={"ignore_ncx": True})
        except Exception:  # zipfile, KeyError, lxml and EpubException for bad files
            raise DocumentError(str(path), "corrupt or not an EPUB file") from None
        titles = book.get_metadata("DC", "title")
        book_title = titles[0][0].strip() if titles else ""
        writer = BlockWriter(path, self.kind)
        for idref, _linear in book.spine:
            item = book.get_item_with_id(idref)
            if item is None or item.get_type() != ebooklib.ITEM_DOCUMENT:
                continue
            writer.reset_headings(book_title)
            add_html(writer, item.get_content(), title_heading=False)
        if not any(not b.is_heading for b in writer.doc.blocks):
            raise DocumentError(str(path), "no text to index")
        return writer.doc
