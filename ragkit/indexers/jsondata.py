"""JSON and JSON Lines: values flattened to "key.path[0].name: value" lines,
one block per top-level entry (per line for .jsonl), so a chunk keeps the
keys that say what its values are."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ragkit.errors import DocumentError
from ragkit.indexers.base import Block, BlockWriter, Document, LoadContext, decode_text


def flatten(value: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        if not value and prefix:
            yield f"{prefix}: {{}}"
        for key, item in value.items():
            yield from flatten(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        if not value and prefix:
            yield f"{prefix}: []"
        for i, item in enumerate(value):
            yield from flatten(item, f"{prefix}[{i}]")
    elif value is None:
        yield f"{prefix}: null" if prefix else "null"
    else:
        text = " ".join(str(value).split()) if isinstance(value, str) else json.dumps(value)
        yield f"{prefix}: {text}" if prefix else text


class JsonLoader:
    kind = "json"
    suffixes = frozenset({".json", ".geojson"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        text = decode_text(path, data)
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DocumentError(str(path), f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
        writer = BlockWriter(path, self.kind)
        if isinstance(value, dict):
            entries = [(str(k), v) for k, v in value.items()]
        elif isinstance(value, list):
            entries = [(f"[{i}]", v) for i, v in enumerate(value)]
        else:
            entries = [("", value)]
        for key, item in entries:
            writer.text("\n".join(flatten(item, key)))
        return writer.doc


class JsonLinesLoader:
    kind = "jsonl"
    suffixes = frozenset({".jsonl", ".ndjson"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        doc = Document(path, self.kind)
        for number, line in enumerate(decode_text(path, data).splitlines(), 1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DocumentError(str(path), f"invalid JSON on line {number}: {exc.msg}") from None
            doc.blocks.append(Block("\n".join(flatten(value)), number, number))
        return doc
