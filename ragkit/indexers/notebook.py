"""Jupyter notebooks (.ipynb): markdown cells (headings carry across cells)
and code cells as fenced code; outputs (images, tables, tracebacks) are left
out, they are large and rarely what a question is about."""

from __future__ import annotations

import json
from pathlib import Path

from ragkit.errors import DocumentError
from ragkit.indexers.base import Document, LoadContext
from ragkit.indexers.text import MarkdownLoader


class NotebookLoader:
    kind = "notebook"
    suffixes = frozenset({".ipynb"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        try:
            notebook = json.loads(data)
            cells = notebook["cells"]
            language = notebook.get("metadata", {}).get("kernelspec", {}).get("language", "python")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise DocumentError(str(path), "not a Jupyter notebook (invalid JSON or no cells)") from None
        parts: list[str] = []
        for cell in cells:
            source = cell.get("source", "")
            text = "".join(source) if isinstance(source, list) else str(source)
            if not text.strip():
                continue
            if cell.get("cell_type") == "code":
                parts.append(f"```{language}\n{text.rstrip()}\n```")
            elif cell.get("cell_type") == "markdown":
                parts.append(text.strip())
        if not parts:
            raise DocumentError(str(path), "no text to index (the notebook has no cells with text)")
        doc = MarkdownLoader().load(path, "\n\n".join(parts).encode(), ctx)
        doc.kind = self.kind
        doc.has_lines = False  # lines of the rendered cells, not of the JSON file
        return doc
