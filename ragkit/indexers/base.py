"""What every loader produces: a document as a list of structural blocks
(paragraphs, code fences, headings) with their line spans and heading path."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


@dataclass(frozen=True)
class Block:
    text: str
    start_line: int
    """1-based, inclusive."""
    end_line: int
    headings: tuple[str, ...] = ()
    """Headings above this block; a heading block's own title is not included."""
    is_heading: bool = False


@dataclass
class Document:
    path: Path
    kind: str
    blocks: list[Block] = field(default_factory=list)


class Loader(Protocol):
    kind: str
    suffixes: frozenset[str]

    def load(self, path: Path, text: str) -> Document: ...
