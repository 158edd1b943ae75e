"""Document loaders and chunking. `walk` finds the files under the user's
paths, `load_document` turns one into structural blocks, and `Chunker` packs
blocks into chunks that fit the embedder."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ragkit.errors import DocumentError
from ragkit.indexers.base import Block, Document, Loader
from ragkit.indexers.text import TEXT_LOADERS

# Bump when loaders or chunking change what they produce, so ingest re-reads files.
INDEXER_VERSION = 1

_LOADERS: dict[str, Loader] = {suffix: loader for loader in TEXT_LOADERS for suffix in loader.suffixes}
_SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages"})


def loader_for(path: Path) -> Loader | None:
    return _LOADERS.get(path.suffix.lower())


def supported_suffixes() -> list[str]:
    return sorted(_LOADERS)


@dataclass(frozen=True)
class FoundFile:
    path: Path
    """Absolute, symlinks in the folder part resolved."""
    root: Path


def walk(roots: Iterable[Path]) -> Iterator[FoundFile]:
    """Yield the supported files under each root in a stable order. Hidden
    files and folders are skipped (a root itself may be hidden); symlinked
    folders are followed once, so a link loop ends."""
    for root in roots:
        root = root.expanduser().resolve()
        if root.is_file():
            if loader_for(root):
                yield FoundFile(root, root.parent)
            continue
        seen: set[tuple[int, int]] = set()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            st = os.stat(dirpath)
            if (st.st_dev, st.st_ino) in seen:
                dirnames[:] = []
                continue
            seen.add((st.st_dev, st.st_ino))
            dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d not in _SKIPPED_DIRS)
            for name in sorted(filenames):
                path = Path(dirpath) / name
                if not name.startswith(".") and loader_for(path):
                    yield FoundFile(path, root)


def decode_text(path: Path, data: bytes) -> str:
    """Decode a text file, or raise DocumentError with the reason it is not text."""
    if not data.strip():
        raise DocumentError(str(path), "empty file")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    if b"\x00" in data[:8192]:
        raise DocumentError(str(path), "binary content in a text file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        # Latin-1 decodes any byte string; legacy text files are mostly that.
        return data.decode("latin-1")


def load_document(path: Path, data: bytes) -> Document:
    loader = loader_for(path)
    if loader is None:
        raise DocumentError(str(path), f"unsupported file type {path.suffix or '(none)'}")
    return loader.load(path, decode_text(path, data))


__all__ = ["INDEXER_VERSION", "Block", "Document", "FoundFile", "decode_text", "load_document", "walk"]
