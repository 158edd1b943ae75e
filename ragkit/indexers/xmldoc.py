"""XML (.xml): the text content, one section per child of the root element.
Short values keep their element path ("server/port: 5432"), which says what
a bare value means; long prose is kept as it is. Parsed with lxml without
resolving entities or reaching the network (no billion-laughs, no XXE); an
XHTML document is read as HTML."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext

# Text up to this long is a value, shown with its element path; longer text is prose.
_VALUE_CHARS = 80
_MAX_ATTRIBUTES = 4


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""  # comments, processing instructions
    return tag.rsplit("}", 1)[-1]


def _lines(element: Any, path: str) -> list[str]:
    lines: list[str] = []
    text = " ".join((element.text or "").split())
    if text:
        lines.append(f"{path}: {text}" if len(text) <= _VALUE_CHARS else text)
    elif len(element) == 0:
        attributes = [(_local(k), " ".join(str(v).split())) for k, v in element.attrib.items()]
        shown = [f"{name}={value}" for name, value in attributes[:_MAX_ATTRIBUTES] if value and len(value) <= 120]
        if shown:
            lines.append(f"{path}: " + ", ".join(shown))
    for child in element:
        name = _local(child.tag)
        if name:
            lines.extend(_lines(child, f"{path}/{name}"))
        tail = " ".join((child.tail or "").split())
        if tail:
            lines.append(tail)
    return lines


class XmlLoader:
    kind = "xml"
    suffixes = frozenset({".xml", ".svg"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        from lxml import etree

        if not data.strip():
            raise DocumentError(str(path), "empty file")
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            recover=True,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
        )
        try:
            root = etree.fromstring(data, parser)
        except (etree.XMLSyntaxError, ValueError):
            root = None
        if root is None:
            raise DocumentError(str(path), "not well-formed XML (no root element could be read)")
        if _local(root.tag).lower() == "html":
            from ragkit.indexers.html import add_html

            writer = BlockWriter(path, self.kind)
            add_html(writer, data)
            return writer.doc
        writer = BlockWriter(path, self.kind)
        root_name = _local(root.tag)
        own = " ".join((root.text or "").split())
        if own:
            writer.text(own)
        for child in root:
            name = _local(child.tag)
            if not name:
                continue
            writer.text("\n".join(_lines(child, name)))
            tail = " ".join((child.tail or "").split())
            if tail:
                writer.text(tail)
        if not writer.doc.blocks:
            raise DocumentError(str(path), f"no text to index (<{root_name}> holds no text)")
        return writer.doc
