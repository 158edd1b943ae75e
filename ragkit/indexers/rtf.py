"""Rich Text Format (.rtf: WordPad, TextEdit, many exports) with striprtf:
plain text by paragraph. RTF keeps no heading structure a parser could rely on."""

from __future__ import annotations

from pathlib import Path

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext
from ragkit.indexers.optional import require


def _codepage(data: bytes) -> str:
    """The ANSI code page the document declares (\\ansicpgN), cp1252 when none."""
    import re

    found = re.search(rb"\\ansicpg(\d+)", data[:4096])
    if found:
        name = f"cp{int(found.group(1))}"
        try:
            "".encode(name)
            return name
        except LookupError:
            pass
    return "cp1252"


class RtfLoader:
    kind = "rtf"
    suffixes = frozenset({".rtf"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        require("striprtf", "RTF", "office")
        from striprtf.striprtf import rtf_to_text

        if not data.lstrip().startswith(b"{\\rtf"):
            raise DocumentError(str(path), "not an RTF document (no {\\rtf header): re-save it as RTF")
        text: str = rtf_to_text(data.decode("latin-1"), encoding=_codepage(data), errors="replace")  # type: ignore[no-untyped-call]
        writer = BlockWriter(path, self.kind)
        for paragraph in text.replace("\r\n", "\n").split("\n"):
            writer.text(paragraph.strip())
        if not writer.doc.blocks:
            raise DocumentError(str(path), "no text to index")
        return writer.doc
