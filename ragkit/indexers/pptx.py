"""PowerPoint (.pptx) with python-pptx: one section per slide (its title as
heading, slide number as the page, so citations say "slide 3"), text boxes,
tables and speaker notes."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext
from ragkit.indexers.ooxml import as_plain, check_not_encrypted
from ragkit.indexers.optional import require
from ragkit.indexers.spreadsheet import render_table


def _shape_texts(shape: Any) -> list[str]:
    if shape.shape_type is not None and getattr(shape, "shapes", None) is not None:  # a group
        return [t for child in shape.shapes for t in _shape_texts(child)]
    if getattr(shape, "has_table", False):
        return render_table([[cell.text.strip() for cell in row.cells] for row in shape.table.rows])
    if getattr(shape, "has_text_frame", False):
        lines = [p.text.strip() for p in shape.text_frame.paragraphs]
        text = "\n".join(line for line in lines if line)
        return [text] if text else []
    return []


class PptxLoader:
    kind = "pptx"
    suffixes = frozenset({".pptx", ".pptm", ".ppsx", ".ppsm", ".potx", ".potm"})
    version = 2  # 2: password-protected files named, macro-enabled variants read

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        require("pptx", "PowerPoint (.pptx)", "office")
        import pptx

        check_not_encrypted(path, data, "PowerPoint")
        try:
            deck = pptx.Presentation(io.BytesIO(as_plain(data, "pptx")))
        except Exception:  # zipfile, KeyError and lxml errors for bad files
            raise DocumentError(str(path), "corrupt or not a PowerPoint .pptx file: re-save it, then ingest") from None
        writer = BlockWriter(path, self.kind)
        for number, slide in enumerate(deck.slides, 1):
            title_shape = slide.shapes.title
            title = title_shape.text.strip() if title_shape is not None and title_shape.has_text_frame else ""
            writer.reset_headings()
            writer.heading(1, title or f"Slide {number}", page=number)
            for shape in slide.shapes:
                if title_shape is not None and shape.shape_id == title_shape.shape_id:
                    continue
                for text in _shape_texts(shape):
                    writer.text(text, number)
            if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
                notes = slide.notes_slide.notes_text_frame.text.strip()
                if notes:
                    writer.text("Notes: " + notes, number)
        if not any(not b.is_heading for b in writer.doc.blocks):
            raise DocumentError(str(path), "no text to index")
        return writer.doc
