"""Incremental ingest: walk the user's paths, re-read only files whose size,
mtime or content changed, embed only chunk text the index has never seen,
and remove the chunks of deleted files.

Order of writes, for crash safety: new chunk ids go to the manifest as
"pending" first, then to the vector store, then stale ids are deleted, then
the manifest records the file as done. A run killed anywhere leaves an index
that answers queries, and the next run finishes the job."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import queue
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragkit.cancel import CancelToken
from ragkit.errors import DocumentError, RagkitError
from ragkit.indexers import BUILTIN, INDEXER_VERSION, FoundFile, Loaders, WalkRules, walk
from ragkit.indexers.base import Document
from ragkit.indexers.chunking import HEADING_SEPARATOR, Chunk, Chunker
from ragkit.indexers.sandbox import ParserPool
from ragkit.ingest.manifest import ChunkRow, Failure, FileRecord, IndexLock, Manifest
from ragkit.languages import detect_language

if TYPE_CHECKING:
    from ragkit.embedders import Embedder
    from ragkit.stores import Metadata, VectorStore

log = logging.getLogger(__name__)

# Chunks embedded and written together; bounds memory however large the folder.
FLUSH_CHUNKS = 512
EMBED_BATCH = 128


@dataclass(frozen=True)
class IngestProgress:
    phase: str
    """"scan", "read", "embed", or "download" (the embedding model, the first time: `note` says how far)."""
    files_done: int
    files_total: int
    chunks_embedded: int
    path: str | None = None
    note: str | None = None
    """What a parser is doing on a long file ("OCR page 3 of 12"), for `path`."""


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass
class IngestReport:
    files_scanned: int = 0
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    files_removed: int = 0
    skipped: list[SkippedFile] = field(default_factory=list)
    chunks_added: int = 0
    chunks_removed: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    """New chunks whose vector was copied from identical text already indexed."""
    chunks_total: int = 0
    seconds: float = 0.0
    failed_before: list[SkippedFile] = field(default_factory=list)
    """Files that failed in an earlier ingest and have not changed since: not read again
    (`retry_failed=True` reads them anyway)."""
    unsupported: dict[str, int] = field(default_factory=dict)
    """Files of types ragkit does not read, counted by suffix ("(none)" for no suffix)."""
    unsupported_paths: list[str] = field(default_factory=list)
    ocr_pages: int = 0
    """Pages and images read by OCR in this ingest."""
    stopped: bool = False
    """Cancelled before the end: what is reported was committed; the next ingest does the rest."""
    added: list[str] = field(default_factory=list)
    """Paths of the new files indexed (files_new of them)."""
    changed: list[str] = field(default_factory=list)
    """Paths of the files indexed again because they changed."""
    removed: list[str] = field(default_factory=list)
    """Paths of the files that left the index (deleted or moved away)."""
    embed_model: str = ""
    """The embedding model of the index (embed_model = "auto" chooses it for a new index)."""
    language_warning: str | None = None
    """One line when the index's embedding model does not suit the languages of its text, naming the fix."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


ProgressCallback = Callable[[IngestProgress], None]


def chunk_id(path: str, embed_text: str) -> str:
    """Deterministic from where the chunk lives and what it says (a file's chunks are unique)."""
    digest = hashlib.sha256(f"{path}\0{embed_text}".encode())
    return digest.hexdigest()[:32]


def text_hash(embed_text: str) -> str:
    return hashlib.sha256(embed_text.encode()).hexdigest()[:32]


@dataclass
class _FileWork:
    found: FoundFile
    sha256: str
    signature: str
    kind: str
    has_lines: bool
    chunks: list[Chunk]
    old: FileRecord | None
    ocr_pages: int = 0
    language: str = ""

    @cached_property
    def committed_ids(self) -> set[str]:
        """Chunk ids the last completed ingest recorded for this file."""
        return set(self.old.chunk_ids) if self.old else set()

    @cached_property
    def pending_ids(self) -> set[str]:
        """Ids an interrupted ingest may have written for this file."""
        return set(self.old.pending_ids) if self.old else set()


@dataclass(frozen=True)
class _Unchanged:
    """Same content as indexed (only the mtime moved)."""

    found: FoundFile


@dataclass(frozen=True)
class _Failed:
    found: FoundFile
    reason: str
    remember: bool = True
    """False for a failure that may pass by itself (the file could not be read): retried next run."""


class _Stopped(Exception):
    """Raised inside an ingest at a safe point once it is cancelled."""


@dataclass(frozen=True)
class _Note:
    """A parser's word on a long file, passed on to the progress callback."""

    path: str
    text: str


_Outcome = _FileWork | _Unchanged | _Failed
# Parsed files waiting for the embedder: parsing runs ahead, memory stays bounded.
_READ_AHEAD = 32


@dataclass(frozen=True)
class ForgetReport:
    files_removed: int
    chunks_removed: int


@dataclass(frozen=True)
class IndexStatus:
    """What an index holds, for `ragkit status` and apps."""

    index: str
    location: str
    files: int
    chunks: int
    files_by_kind: dict[str, int]
    chunks_by_kind: dict[str, int]
    size_bytes: int
    """On disk: vectors, text and manifest (0 for a Chroma server's share)."""
    last_ingest: dict[str, float] | None
    """Time ("at", seconds since the epoch) and counts of the last completed ingest."""
    failed: list[SkippedFile]
    """Files the last ingests could not index, with the reason."""
    interrupted_files: int
    """Files an interrupted ingest left half-written; the next ingest completes them."""
    unsupported: dict[str, int] = field(default_factory=dict)
    """Files of types ragkit does not read under the ingested folders, by suffix."""
    ocr_pages: int = 0
    """Pages and images whose indexed text came from OCR."""
    files_by_language: dict[str, int] = field(default_factory=dict)
    """Files per detected language (ISO 639-1), most chunks first; "" for code, files with little text and
    files indexed before languages were detected."""
    chunks_by_language: dict[str, int] = field(default_factory=dict)
    embed_model: str | None = None
    """The model that embedded the index."""
    language_warning: str | None = None
    """One line when an English-only model embeds an index largely in other languages, naming the fix."""


def document_language(doc: Document) -> str:
    """The language of a parsed document's prose ("" for source code, whose words are identifiers)."""
    if doc.kind == "code":
        return ""
    sample: list[str] = []
    size = 0
    for block in doc.blocks:  # the first few thousand characters are plenty
        sample.append(block.text)
        size += len(block.text)
        if size > 6000:
            break
    return detect_language("\n".join(sample))


def index_status(index_dir: Path, index_name: str, location: str) -> IndexStatus:
    manifest_path = index_dir / "manifest.sqlite3"
    if not manifest_path.is_file():
        return IndexStatus(index_name, location, 0, 0, {}, {}, 0, None, [], 0, {}, 0)
    manifest = Manifest(manifest_path)
    try:
        records = [r for r in manifest.files().values() if r.sha256]
        files_by_kind: dict[str, int] = {}
        chunks_by_kind: dict[str, int] = {}
        for rec in records:
            files_by_kind[rec.kind] = files_by_kind.get(rec.kind, 0) + 1
            chunks_by_kind[rec.kind] = chunks_by_kind.get(rec.kind, 0) + len(rec.chunk_ids)
        last = manifest.get_meta("last_ingest")
        failed = [SkippedFile(path, f.reason) for path, f in sorted(manifest.failures().items())]
        interrupted = sum(1 for r in manifest.files().values() if r.pending_ids)
        unsupported = manifest.unread_by_suffix()
        ocr_pages = manifest.ocr_pages()
        languages = manifest.languages()
        embed_model = manifest.get_meta("embed_model")
    finally:
        manifest.close()
    size = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file())
    return IndexStatus(
        index=index_name,
        location=location,
        files=len(records),
        chunks=sum(chunks_by_kind.values()),
        files_by_kind=dict(sorted(files_by_kind.items())),
        chunks_by_kind=dict(sorted(chunks_by_kind.items())),
        size_bytes=size,
        last_ingest=json.loads(last) if last else None,
        failed=failed,
        interrupted_files=interrupted,
        unsupported=unsupported,
        ocr_pages=ocr_pages,
        files_by_language={lang: files for lang, (files, _) in languages.items()},
        chunks_by_language={lang: chunks for lang, (_, chunks) in languages.items()},
        embed_model=embed_model,
    )


class Ingestor:
    def __init__(
        self,
        *,
        index_dir: Path,
        index_name: str,
        embedder: Embedder,
        open_store: Callable[[], VectorStore],
        chunk_tokens: int,
        chunk_overlap: int = 0,
        rules: WalkRules | None = None,
        loaders: Loaders = BUILTIN,
        parsers: ParserPool | None = None,
        retry_failed: bool = False,
    ) -> None:
        self.index_dir = index_dir
        self.index_name = index_name
        self.embedder = embedder
        self.open_store = open_store
        self.chunk_tokens = chunk_tokens
        self.chunk_overlap = chunk_overlap
        self.rules = rules or WalkRules()
        self.loaders = loaders
        self.parsers = parsers
        """Where files are parsed; None: a pool of one worker process for this run."""
        self.retry_failed = retry_failed
        self._cancel = CancelToken()

    def signature(self, path: Path) -> str:
        """Files ingested under another signature are re-read: a new loader
        version for their format, new chunking, or another embedding model."""
        loader = self.loaders.for_path(path)
        version = f"{loader.kind}.{loader.version}" if loader else "none"
        return f"{INDEXER_VERSION}:{version}:{self.embedder.model_id}:{self.chunk_tokens}:{self.chunk_overlap}"

    @cached_property
    def _parser_fingerprint(self) -> str:
        """Which optional parsers are installed, and the parsers' limits and OCR setting: a
        file that failed for want of a parser, time or memory is read again once it has them."""
        from ragkit.indexers.convert import find_soffice
        from ragkit.indexers.optional import installed_parsers

        parts = [*installed_parsers(), "soffice" if find_soffice() else ""]
        if self.parsers is not None:
            config = self.parsers.config
            parts += [f"t{config.seconds:g}", f"m{config.memory_mb}", f"ocr-{config.ocr}"]
        return ",".join(parts)

    def failure_signature(self, path: Path) -> str:
        return f"{self.signature(path)}:{self._parser_fingerprint}"

    def _failed_before(self, failure: Failure | None, f: FoundFile) -> bool:
        """The same version of the file failed last time, under the same parsers."""
        return (
            failure is not None
            and (failure.size, failure.mtime_ns) == (f.size, f.mtime_ns)
            and failure.signature == self.failure_signature(f.path)
        )

    def _is_current(self, rec: FileRecord | None, path: Path) -> bool:
        """Indexed completely, under the current loader, chunking and embedding model."""
        return rec is not None and rec.signature == self.signature(path) and not rec.pending_ids

    def run(
        self,
        paths: Iterable[str | Path],
        on_progress: ProgressCallback | None = None,
        cancel: CancelToken | None = None,
    ) -> IngestReport:
        started = time.perf_counter()
        self._cancel = cancel or CancelToken()
        roots = [Path(p).expanduser() for p in paths]
        for root in roots:
            if not root.exists():
                raise RagkitError(f"{root}: no such file or folder", "check the path")
        progress = on_progress or (lambda _: None)
        report = IngestReport()
        with IndexLock(self.index_dir, self.index_name):
            manifest = Manifest(self.index_dir / "manifest.sqlite3")
            try:
                manifest.upgrade_keywords(self.index_name)
                with contextlib.suppress(_Stopped):
                    self._run(roots, manifest, report, progress)
                report.stopped = self._cancel.cancelled
                report.seconds = time.perf_counter() - started
                manifest.set_meta("last_ingest", json.dumps({"at": time.time(), **_summary(report)}))
            finally:
                report.chunks_total = manifest.chunk_count()
                manifest.close()
        report.seconds = time.perf_counter() - started
        return report

    def forget(self, paths: Iterable[str | Path]) -> ForgetReport:
        """Remove files, or every file under folders, from the index. The
        files on disk are not touched."""
        targets = [Path(p).expanduser().resolve() for p in paths]
        with IndexLock(self.index_dir, self.index_name):
            manifest = Manifest(self.index_dir / "manifest.sqlite3")
            try:
                records = [r for r in manifest.files().values() if any(_is_within(Path(r.path), t) for t in targets)]
                failures = [p for p in manifest.failures() if any(_is_within(Path(p), t) for t in targets)]
                with manifest.transaction():
                    manifest.set_unread({}, under=[str(t) for t in targets])
                if not records and not failures:
                    shown = ", ".join(str(t) for t in targets)
                    raise RagkitError(
                        f"{shown}: not in index {self.index_name!r}", "run ragkit status to list what is indexed"
                    )
                store = self.open_store() if records else None
                chunks = 0
                for rec in records:
                    if store is not None:
                        store.delete(rec.chunk_ids + rec.pending_ids)
                    with manifest.transaction():
                        manifest.remove(rec.path)
                    chunks += len(rec.chunk_ids)
                with manifest.transaction():
                    for path in failures:
                        manifest.remove(path)
            finally:
                manifest.close()
        return ForgetReport(len(records), chunks)

    def _run(self, roots: list[Path], manifest: Manifest, report: IngestReport, progress: ProgressCallback) -> None:
        progress(IngestProgress("scan", 0, 0, 0))

        def on_skip(path: Path, reason: str) -> None:
            report.skipped.append(SkippedFile(str(path), reason))
            manifest.record_failure(str(path), reason)

        unsupported: dict[str, str] = {}

        def on_unsupported(path: Path) -> None:
            unsupported[str(path)] = path.suffix.lower() or "(none)"

        found = []
        for f in walk(roots, self.rules, on_skip, loaders=self.loaders, on_unsupported=on_unsupported):
            if self._cancel.cancelled:
                return  # nothing was changed yet
            found.append(f)
        report.files_scanned = len(found)
        report.unsupported = dict(Counter(unsupported.values()).most_common())
        report.unsupported_paths = sorted(unsupported)
        resolved_roots = [r.expanduser().resolve() for r in roots]
        with manifest.transaction():
            manifest.set_unread(unsupported, under=[str(r) for r in resolved_roots])
        records = manifest.files()
        failures = manifest.failures()
        seen = {str(f.path) for f in found} | {s.path for s in report.skipped}
        # A folder that could not be read keeps its files' chunks until it can be read again.
        unreadable = [Path(s.path) for s in report.skipped]
        stale = [
            rec
            for path, rec in records.items()
            if path not in seen
            and any(_is_within(Path(path), root) for root in resolved_roots)
            and not any(_is_within(Path(path), folder) for folder in unreadable)
        ]
        candidates: list[FoundFile] = []
        for f in found:
            rec = records.get(str(f.path))
            if self._is_current(rec, f.path) and rec and (rec.size, rec.mtime_ns) == (f.size, f.mtime_ns):
                report.files_unchanged += 1
            elif not self.retry_failed and self._failed_before(failures.get(str(f.path)), f):
                report.failed_before.append(SkippedFile(str(f.path), failures[str(f.path)].reason))
            else:
                candidates.append(f)
        # Files that are gone (or now excluded) leave the failure list too.
        for path in failures:
            if path not in seen and any(_is_within(Path(path), root) for root in resolved_roots):
                manifest.clear_failure(path)
        if not candidates and not stale:
            return  # nothing changed: neither the store nor the embedder is touched

        store = self.open_store()
        chunker = Chunker(
            self.embedder.counter, min(self.chunk_tokens, self.embedder.max_tokens), overlap_tokens=self.chunk_overlap
        )
        own_pool = self.parsers is None
        parsers = self.parsers or ParserPool()
        try:
            outcomes = contextlib.closing(self._read_ahead(candidates, records, chunker, parsers))
            with outcomes as reading:  # closed on error too: the reader threads stop
                self._consume(reading, store, manifest, report, progress, len(candidates))
        finally:
            if own_pool:
                parsers.close()
        # Files that are gone leave after the new ones are in: a moved or renamed file's
        # text finds its vectors by hash and is not embedded again.
        for rec in stale:
            store.delete(rec.chunk_ids + rec.pending_ids)
            with manifest.transaction():
                manifest.remove(rec.path)
            report.files_removed += 1
            report.removed.append(rec.path)
            report.chunks_removed += len(rec.chunk_ids)

    def _consume(
        self,
        reading: Iterator[_Outcome | _Note],
        store: VectorStore,
        manifest: Manifest,
        report: IngestReport,
        progress: ProgressCallback,
        total: int,
    ) -> None:
        batch: list[_FileWork] = []
        pending_chunks = 0
        done = 0
        for outcome in reading:
            if self._cancel.cancelled:
                return  # the batch not yet flushed is dropped: nothing of it was written
            if isinstance(outcome, _Note):
                progress(IngestProgress("read", done, total, report.chunks_embedded, outcome.path, outcome.text))
                continue
            done += 1
            path = str(outcome.found.path)
            progress(IngestProgress("read", done, total, report.chunks_embedded, path))
            if isinstance(outcome, _Failed):
                report.skipped.append(SkippedFile(path, outcome.reason))
                if outcome.remember:
                    found = outcome.found
                    signature = self.failure_signature(found.path)
                    manifest.record_failure(path, outcome.reason, found.size, found.mtime_ns, signature)
                else:
                    manifest.record_failure(path, outcome.reason)
            elif isinstance(outcome, _Unchanged):
                manifest.touch(path, outcome.found.size, outcome.found.mtime_ns)
                report.files_unchanged += 1
            else:
                batch.append(outcome)
                report.ocr_pages += outcome.ocr_pages
                pending_chunks += len(outcome.chunks)
                if pending_chunks >= FLUSH_CHUNKS:
                    self._flush(batch, store, manifest, report, progress, done, total)
                    batch, pending_chunks = [], 0
        if not self._cancel.cancelled:
            self._flush(batch, store, manifest, report, progress, total, total)

    def _read_ahead(
        self, candidates: list[FoundFile], records: dict[str, FileRecord], chunker: Chunker, parsers: ParserPool
    ) -> Generator[_Outcome | _Note, None, None]:
        """Read, parse (in the parser processes) and chunk files on reader threads,
        one per parser process, while the caller embeds: the embedder stays busy.
        Outcomes come back in the order of `candidates`; the manifest and the
        progress callback stay on the caller's thread."""
        outcomes: queue.Queue[_Outcome | _Note | BaseException | None] = queue.Queue(maxsize=_READ_AHEAD)
        stop = threading.Event()
        readers = max(1, parsers.workers)

        def note(path: Path, text: str) -> None:
            if not stop.is_set():
                with contextlib.suppress(queue.Full):
                    outcomes.put(_Note(str(path), text), timeout=1)

        def produce() -> None:
            try:
                with ThreadPoolExecutor(readers, thread_name_prefix="ragkit-ingest-reader") as pool:
                    window: deque[Future[_Outcome]] = deque()
                    for f in candidates:
                        if stop.is_set():
                            break
                        window.append(pool.submit(self._read, f, records.get(str(f.path)), chunker, parsers, note))
                        if len(window) > readers:
                            outcomes.put(window.popleft().result())
                    while window and not stop.is_set():
                        outcomes.put(window.popleft().result())
                    for future in window:
                        future.cancel()
            except BaseException as exc:  # surfaced on the caller's thread
                outcomes.put(exc)
            finally:
                outcomes.put(None)

        worker = threading.Thread(target=produce, name="ragkit-ingest-reader", daemon=True)
        worker.start()
        try:
            while (item := outcomes.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            while worker.is_alive():  # unblock a worker waiting on a full queue
                with contextlib.suppress(queue.Empty):
                    outcomes.get(timeout=0.1)
            worker.join()

    def _read(
        self,
        f: FoundFile,
        old: FileRecord | None,
        chunker: Chunker,
        parsers: ParserPool,
        note: Callable[[Path, str], None],
    ) -> _Outcome:
        """One file's outcome. Whatever goes wrong with this file (unreadable,
        a parser's error, hang or crash, text the chunker chokes on) fails
        this file alone, with a one-line reason."""
        try:
            data = f.path.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            if self._is_current(old, f.path) and old and old.sha256 == sha:
                return _Unchanged(f)
            doc = parsers.parse(f.path, data, lambda text: note(f.path, text), cancel=self._cancel)
            del data
            # A text repeated within one file (boilerplate, a generated dump) is indexed once:
            # copies add nothing to retrieval, and identical vectors degrade the HNSW graph.
            unique: dict[str, Chunk] = {}
            for chunk in chunker.chunk(doc):
                unique.setdefault(chunk.embed_text, chunk)
            chunks = list(unique.values())
            if not chunks:
                raise DocumentError(str(f.path), "no text to index")
        except DocumentError as exc:
            return _Failed(f, exc.reason)
        except OSError as exc:
            return _Failed(f, f"cannot read: {exc.strerror or exc}", remember=False)
        except MemoryError:
            return _Failed(f, "too large to chunk in memory")
        except Exception as exc:  # a bug met on this file's text: it is skipped, the ingest goes on
            log.warning("%s: %s", f.path, exc, exc_info=True)
            return _Failed(f, f"{exc.__class__.__name__} while chunking: {' '.join(str(exc).split())[:160]}")
        language = document_language(doc)
        return _FileWork(f, sha, self.signature(f.path), doc.kind, doc.has_lines, chunks, old, doc.ocr_pages, language)

    def _flush(
        self,
        batch: list[_FileWork],
        store: VectorStore,
        manifest: Manifest,
        report: IngestReport,
        progress: ProgressCallback,
        files_done: int,
        files_total: int,
    ) -> None:
        if not batch:
            return
        import numpy as np

        # Rows to write: every chunk not already stored under the same id.
        rows: list[tuple[str, str, Chunk, Metadata]] = []  # (id, text hash, chunk, metadata)
        kept_ids: list[str] = []
        kept_meta: list[Metadata] = []
        new_ids_by_file: list[list[str]] = []
        rows_by_file: list[list[ChunkRow]] = []
        for work in batch:
            path = str(work.found.path)
            ids = []
            file_rows = []
            for index, chunk in enumerate(work.chunks):
                cid = chunk_id(path, chunk.embed_text)
                ids.append(cid)
                meta = _metadata(path, work.kind, index, chunk, work.has_lines)
                file_rows.append(ChunkRow(cid, chunk.text, chunk.embed_text, meta))
                if cid in work.committed_ids:
                    kept_ids.append(cid)  # same text at the same place: only line numbers may move
                    kept_meta.append(meta)
                else:
                    rows.append((cid, str(meta["text_hash"]), chunk, meta))
            new_ids_by_file.append(ids)
            rows_by_file.append(file_rows)

        with manifest.transaction():
            for work, ids in zip(batch, new_ids_by_file):
                manifest.set_pending(str(work.found.path), sorted(set(ids) | work.pending_ids))

        reused = store.vectors_by_hash([r[1] for r in rows]) if rows else {}
        to_embed: dict[str, str] = {}  # text hash -> embed text, duplicates embedded once
        for _, h, chunk, _ in rows:
            if h not in reused:
                to_embed.setdefault(h, chunk.embed_text)
        vectors: dict[str, list[float]] = dict(reused)
        if to_embed:
            # Length-sorted batches pad least.
            order = sorted(to_embed, key=lambda h: len(to_embed[h]))
            for i in range(0, len(order), EMBED_BATCH):
                if self._cancel.cancelled:
                    # Pending ids are recorded: the next ingest cleans up and completes these files.
                    raise _Stopped
                hashes = order[i : i + EMBED_BATCH]
                embedded = self.embedder.embed([to_embed[h] for h in hashes])
                vectors.update(zip(hashes, embedded.tolist()))
                report.chunks_embedded += len(hashes)
                progress(IngestProgress("embed", files_done, files_total, report.chunks_embedded))
        report.chunks_reused += sum(1 for r in rows if r[1] in reused)

        if rows:
            store.upsert(
                [r[0] for r in rows],
                np.asarray([vectors[r[1]] for r in rows], dtype=np.float32),
                [r[2].text for r in rows],
                [r[3] for r in rows],
            )
        if kept_ids:
            store.update_metadata(kept_ids, kept_meta)
        stale: dict[str, list[str]] = {}
        for work, ids in zip(batch, new_ids_by_file):
            gone = (work.committed_ids | work.pending_ids) - set(ids)
            if gone:
                stale[str(work.found.path)] = sorted(gone)
            report.chunks_removed += len(gone & work.committed_ids)
            report.chunks_added += len(set(ids) - work.committed_ids)
            if work.old and work.old.sha256:
                report.files_changed += 1
                report.changed.append(str(work.found.path))
            else:
                report.files_new += 1
                report.added.append(str(work.found.path))
        with manifest.transaction():
            for work, file_rows in zip(batch, rows_by_file):
                manifest.commit_file(
                    str(work.found.path),
                    size=work.found.size,
                    mtime_ns=work.found.mtime_ns,
                    sha256=work.sha256,
                    signature=work.signature,
                    kind=work.kind,
                    chunks=file_rows,
                    ocr_pages=work.ocr_pages,
                    pending=stale.get(str(work.found.path), ()),
                    language=work.language,
                )
        # Old chunks leave the store only after the commit, so a search running
        # meanwhile sees each file wholly old or wholly new (it keeps committed ids
        # only); until they are gone they stay pending, and a crash here is
        # cleaned up by the next ingest.
        for stale_ids in stale.values():
            store.delete(stale_ids)
        if stale:
            with manifest.transaction():
                for path in stale:
                    manifest.set_pending(path, [])
        progress(IngestProgress("embed", files_done, files_total, report.chunks_embedded))


def _metadata(path: str, kind: str, index: int, chunk: Chunk, has_lines: bool) -> Metadata:
    meta: Metadata = {
        "path": path,
        "kind": kind,
        "chunk": index,
        "headings": HEADING_SEPARATOR.join(chunk.headings),
        "text_hash": text_hash(chunk.embed_text),
    }
    if has_lines:
        meta["start_line"] = chunk.start_line
        meta["end_line"] = chunk.end_line
    if chunk.page is not None:
        meta["page"] = chunk.page
        meta["end_page"] = chunk.end_page if chunk.end_page is not None else chunk.page
    return meta


def _summary(report: IngestReport) -> dict[str, int | float]:
    return {
        "files_scanned": report.files_scanned,
        "files_skipped": len(report.skipped),
        "files_failed_before": len(report.failed_before),
        "files_unsupported": len(report.unsupported_paths),
        "ocr_pages": report.ocr_pages,
        "chunks_embedded": report.chunks_embedded,
        "files_new": report.files_new,
        "files_changed": report.files_changed,
        "files_removed": report.files_removed,
        "seconds": round(report.seconds, 2),
    }


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
