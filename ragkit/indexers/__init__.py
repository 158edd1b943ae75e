"""Document loaders and chunking. `walk` finds the files under the user's
paths (honouring .gitignore, .ragkitignore, include/exclude globs and a size
limit), `load_document` turns one into structural blocks with the loader its
suffix or its content calls for, and `Chunker` packs blocks into chunks that
fit the embedder."""

from __future__ import annotations

import os
import stat
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

from ragkit.errors import DocumentError, RagkitError
from ragkit.indexers.base import Block, Document, LoadContext, Loader, decode_text
from ragkit.indexers.code import CodeLoader
from ragkit.indexers.docx import DocxLoader
from ragkit.indexers.epub import EpubLoader
from ragkit.indexers.html import HtmlLoader
from ragkit.indexers.images import ImageLoader
from ragkit.indexers.jsondata import JsonLinesLoader, JsonLoader
from ragkit.indexers.legacy import DocLoader, PptLoader, WriterLoader, XlsLoader
from ragkit.indexers.mail import EmlLoader, MboxLoader
from ragkit.indexers.notebook import NotebookLoader
from ragkit.indexers.odf import OdpLoader, OdsLoader, OdtLoader
from ragkit.indexers.ooxml import OLE_HEADER
from ragkit.indexers.outlook import MsgLoader
from ragkit.indexers.pdf import PdfLoader
from ragkit.indexers.pptx import PptxLoader
from ragkit.indexers.rtf import RtfLoader
from ragkit.indexers.spreadsheet import CsvLoader, XlsxLoader
from ragkit.indexers.text import TEXT_LOADERS
from ragkit.indexers.xmldoc import XmlLoader

# Bump when chunking changes what it produces, so ingest re-reads every file
# (a loader's own `version` re-reads only its files).
INDEXER_VERSION = 4  # 4: chunks also go to the keyword (BM25) index

LOADERS: tuple[Loader, ...] = (
    *TEXT_LOADERS, CodeLoader(), HtmlLoader(), PdfLoader(), DocxLoader(), PptxLoader(), XlsxLoader(), CsvLoader(),
    EpubLoader(), NotebookLoader(), EmlLoader(), MboxLoader(), JsonLoader(), JsonLinesLoader(), DocLoader(),
    PptLoader(), XlsLoader(), WriterLoader(), OdtLoader(), OdsLoader(), OdpLoader(), RtfLoader(), MsgLoader(),
    XmlLoader(), ImageLoader(),
)  # fmt: skip
_SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", "site-packages", "venv"})
IGNORE_FILES = (".gitignore", ".ragkitignore")
# Members that identify a zip container's format.
_ZIP_MARKERS = (("word/document.xml", "docx"), ("ppt/presentation.xml", "pptx"), ("xl/workbook.xml", "xlsx"))
_ODF_TYPES = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
    b"application/vnd.oasis.opendocument.presentation": "odp",
    b"application/epub+zip": "epub",
}
# OLE compound files by a stream only their format has (names are UTF-16 in the directory).
_OLE_STREAMS = tuple(
    (name.encode("utf-16-le"), kind)
    for name, kind in (
        ("__substg1.0_", "msg"), ("WordDocument", "doc"), ("PowerPoint Document", "ppt"), ("Workbook", "xls"),
    )
)  # fmt: skip
# Kinds a misnamed file may be read as when its content says so.
_CONTAINERS = frozenset(
    {"pdf", "docx", "pptx", "xlsx", "epub", "odt", "ods", "odp", "rtf", "html", "doc", "ppt", "xls", "msg"}
)
# Loaders whose files are often something else under their name (a .doc that is RTF or DOCX).
_READ_AS_SNIFFED = frozenset({"text", "code", "doc", "xls", "ppt", "xml"})


def sniff(data: bytes) -> str | None:
    """The kind of document the content says it is, when it says so unambiguously."""
    head = data[:1024]
    if head.lstrip().startswith(b"%PDF-") or head.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(BytesIO(data)) as archive:
                names = set(archive.namelist())
                for member, kind in _ZIP_MARKERS:
                    if member in names:
                        return kind
                if "mimetype" in names:
                    return _ODF_TYPES.get(archive.read("mimetype").strip())
        except (zipfile.BadZipFile, OSError, KeyError, ValueError, NotImplementedError, EOFError):
            return None
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if data.startswith(OLE_HEADER):
        # An OLE compound file: which Office format, by the streams it holds.
        for stream, kind in _OLE_STREAMS:
            if stream in data:
                return kind
    lowered = head.lstrip()[:64].lower()
    if lowered.startswith((b"<!doctype html", b"<html")):
        return "html"
    return None


class Loaders:
    """The loaders ingest chooses from: the built-in ones, plus plugin modules
    whose `LOADERS` add formats or replace a built-in loader for a suffix."""

    def __init__(self, loaders: Iterable[Loader] = LOADERS, plugins: tuple[str, ...] = ()) -> None:
        self.plugins = plugins
        self.all: tuple[Loader, ...] = (*loaders, *_plugin_loaders(plugins))
        self._by_suffix: dict[str, Loader] = {suffix: loader for loader in self.all for suffix in loader.suffixes}
        self._by_kind: dict[str, Loader] = {loader.kind: loader for loader in self.all}
        self._plain = self._by_kind["text"]

    def for_path(self, path: Path) -> Loader | None:
        """The loader the file's suffix calls for; files without a suffix
        (README, LICENSE, Makefile) are read as plain text."""
        if not path.suffix:
            return self._plain
        return self._by_suffix.get(path.suffix.lower())

    def suffixes(self) -> list[str]:
        return sorted(self._by_suffix)

    def load(self, path: Path, data: bytes, ctx: LoadContext | None = None) -> Document:
        """Parse one file. The content wins over the suffix when it is clearly a
        PDF, an Office or OpenDocument file, RTF or an e-book, so a misnamed file is still read."""
        loader = self.for_path(path)
        sniffed = sniff(data)
        if (
            sniffed in self._by_kind
            and sniffed != getattr(loader, "kind", None)
            and (loader is None or loader.kind in _READ_AS_SNIFFED or sniffed in _CONTAINERS)
        ):
            loader = self._by_kind[str(sniffed)]
        if loader is None:
            raise DocumentError(str(path), f"unsupported file type {path.suffix or '(none)'}")
        try:
            return loader.load(path, data, ctx or LoadContext())
        except DocumentError as exc:
            if not exc.path:  # raised without a path (a missing parser): name the file
                raise DocumentError(str(path), exc.reason) from None
            raise
        except RecursionError:
            raise DocumentError(str(path), "too deeply nested to parse") from None


def _plugin_loaders(modules: tuple[str, ...]) -> list[Loader]:
    import importlib

    found: list[Loader] = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            raise RagkitError(f"loader plugin {name!r} cannot be imported: {exc}", "fix the loaders setting") from None
        loaders = getattr(module, "LOADERS", None)
        if loaders is None:
            raise RagkitError(f"loader plugin {name!r} has no LOADERS", "define LOADERS = (MyLoader(),) in it")
        found.extend(loaders)
    return found


BUILTIN = Loaders()


def loader_for(path: Path) -> Loader | None:
    return BUILTIN.for_path(path)


def supported_suffixes() -> list[str]:
    return BUILTIN.suffixes()


def load_document(path: Path, data: bytes, ctx: LoadContext | None = None) -> Document:
    return BUILTIN.load(path, data, ctx)


@dataclass(frozen=True)
class FoundFile:
    path: Path
    """Absolute: the resolved root joined with the names below it."""
    root: Path
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class WalkRules:
    """Which files under the roots are indexed."""

    include: tuple[str, ...] = ()
    """gitignore-style patterns relative to a root; when given, only matching files."""
    exclude: tuple[str, ...] = ()
    use_ignore_files: bool = True
    """Honour .gitignore and .ragkitignore files in the folders walked."""
    max_file_bytes: int | None = None
    skip_dirs: tuple[Path, ...] = ()
    """Folders never walked: ragkit's own data folder when it lies inside a root
    (an index must not index itself, and a watch must not react to its own writes)."""


SkipCallback = Callable[[Path, str], None]


def _spec(lines: Iterable[str]) -> Any:
    import pathspec

    return pathspec.GitIgnoreSpec.from_lines(list(lines))


def _read_ignore_files(folder: Path) -> Any | None:
    lines: list[str] = []
    for name in IGNORE_FILES:
        try:
            lines += (folder / name).read_text(errors="replace").splitlines()
        except OSError:
            continue
    return _spec(lines) if lines else None


def _is_binary_without_suffix(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False  # let the reader report it
    return b"\x00" in head and sniff(head) is None


def walk(
    roots: Iterable[Path],
    rules: WalkRules | None = None,
    on_skip: SkipCallback | None = None,
    *,
    loaders: Loaders = BUILTIN,
    on_unsupported: Callable[[Path], None] | None = None,
) -> Iterator[FoundFile]:
    """Yield the supported files under each root in a stable order.

    Hidden files and folders are skipped (a root itself may be hidden);
    symlinked folders are followed once, so a link loop ends; folders are
    walked with an explicit stack, so any depth works. Files over the size
    limit, unreadable folders and broken links are reported to `on_skip`;
    files of a type no loader reads, that no ignore rule excludes, to
    `on_unsupported`."""
    rules = rules or WalkRules()
    skip = on_skip or (lambda _path, _reason: None)
    unsupported = on_unsupported or (lambda _path: None)
    include = _spec(rules.include) if rules.include else None
    exclude = _spec(rules.exclude) if rules.exclude else None
    own_dirs = set()
    for own in rules.skip_dirs:
        try:
            own_stat = own.stat()
        except OSError:
            continue
        own_dirs.add((own_stat.st_dev, own_stat.st_ino))

    def wanted(rel: str, specs: list[tuple[Path, Any]], absolute: Path, is_dir: bool) -> bool:
        suffix = "/" if is_dir else ""
        if exclude is not None and exclude.match_file(rel + suffix):
            return False
        for base, spec in specs:
            if spec.match_file(os.path.relpath(absolute, base) + suffix):
                return False
        return is_dir or include is None or include.match_file(rel)

    def accept(path: Path, root: Path, st: os.stat_result) -> FoundFile | None:
        if rules.max_file_bytes is not None and st.st_size > rules.max_file_bytes:
            skip(path, f"larger than the size limit ({st.st_size / 1e6:.1f} MB > {rules.max_file_bytes / 1e6:g} MB):"
                       " raise max_file_mb to index it")  # fmt: skip
            return None
        return FoundFile(path, root, st.st_size, st.st_mtime_ns)

    for root in roots:
        root = root.expanduser().resolve()
        if root.is_file():
            if loaders.for_path(root):
                found = accept(root, root.parent, root.stat())
                if found:
                    yield found
            else:
                unsupported(root)
            continue
        seen: set[tuple[int, int]] = set()
        stack: list[tuple[Path, list[tuple[Path, Any]]]] = [(root, [])]
        while stack:
            folder, specs = stack.pop()
            try:
                st = folder.stat()
            except OSError as exc:
                skip(folder, f"cannot read folder: {exc.strerror or exc}")
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue  # a symlink loop, or a folder linked twice
            seen.add((st.st_dev, st.st_ino))
            if rules.use_ignore_files:
                local = _read_ignore_files(folder)
                if local is not None:
                    specs = [*specs, (folder, local)]
            try:
                with os.scandir(folder) as it:
                    entries = sorted(it, key=lambda e: e.name)
            except OSError as exc:
                skip(folder, f"cannot read folder: {exc.strerror or exc}")
                continue
            subfolders: list[Path] = []
            for entry in entries:
                if entry.name.startswith("."):
                    continue
                path = folder / entry.name
                rel = os.path.relpath(path, root)
                try:
                    entry_stat = entry.stat()  # follows symlinks
                except OSError:
                    if entry.is_symlink():
                        skip(path, "broken symbolic link")
                    continue
                if stat.S_ISDIR(entry_stat.st_mode):
                    if (entry_stat.st_dev, entry_stat.st_ino) in own_dirs:
                        continue
                    if entry.name not in _SKIPPED_DIRS and wanted(rel, specs, path, True):
                        subfolders.append(path)
                    continue
                if not stat.S_ISREG(entry_stat.st_mode) or not wanted(rel, specs, path, False):
                    continue
                if loaders.for_path(path) is None or (not path.suffix and _is_binary_without_suffix(path)):
                    unsupported(path)  # an executable or data file, or a format no loader reads
                    continue
                found = accept(path, root, entry_stat)
                if found:
                    yield found
            # Depth-first in name order: push in reverse.
            stack.extend((sub, specs) for sub in reversed(subfolders))


__all__ = [
    "BUILTIN", "INDEXER_VERSION", "LOADERS", "Block", "Document", "FoundFile", "LoadContext", "Loaders", "WalkRules",
    "decode_text", "load_document", "loader_for", "sniff", "supported_suffixes", "walk",
]  # fmt: skip
