"""Incremental ingest: walk the user's paths, re-read only files whose size,
mtime or content changed, embed only chunk text the index has never seen,
and remove the chunks of deleted files.

Order of writes, for crash safety: new chunk ids go to the manifest as
"pending" first, then to the vector store, then stale ids are deleted, then
the manifest records the file as done. A run killed anywhere leaves an index
that answers queries, and the next run finishes the job."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ragkit.errors import DocumentError, RagkitError
from ragkit.indexers import INDEXER_VERSION, FoundFile, load_document, walk
from ragkit.indexers.chunking import HEADING_SEPARATOR, Chunk, Chunker
from ragkit.manifest import FileRecord, IndexLock, Manifest

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
    """"scan", "read" or "embed"."""
    files_done: int
    files_total: int
    chunks_embedded: int
    path: str | None = None


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


ProgressCallback = Callable[[IngestProgress], None]


def chunk_id(path: str, embed_text: str, occurrence: int) -> str:
    """Deterministic from where the chunk lives and what it says."""
    digest = hashlib.sha256(f"{path}\0{occurrence}\0{embed_text}".encode())
    return digest.hexdigest()[:32]


def text_hash(embed_text: str) -> str:
    return hashlib.sha256(embed_text.encode()).hexdigest()[:32]


@dataclass
class _FileWork:
    found: FoundFile
    size: int
    mtime_ns: int
    sha256: str
    kind: str
    chunks: list[Chunk]
    old: FileRecord | None


class Ingestor:
    def __init__(
        self,
        *,
        index_dir: Path,
        index_name: str,
        embedder: Embedder,
        open_store: Callable[[], VectorStore],
        chunk_tokens: int,
    ) -> None:
        self.index_dir = index_dir
        self.index_name = index_name
        self.embedder = embedder
        self.open_store = open_store
        self.chunk_tokens = chunk_tokens

    @property
    def signature(self) -> str:
        """Files ingested under another signature are re-chunked."""
        return f"{INDEXER_VERSION}:{self.embedder.model_id}:{self.chunk_tokens}"

    def _is_current(self, rec: FileRecord | None) -> bool:
        """Indexed completely, under the current chunking and embedding model."""
        return rec is not None and rec.signature == self.signature and not rec.pending_ids

    def run(self, paths: Iterable[str | Path], on_progress: ProgressCallback | None = None) -> IngestReport:
        started = time.perf_counter()
        roots = [Path(p).expanduser() for p in paths]
        for root in roots:
            if not root.exists():
                raise RagkitError(f"{root}: no such file or folder", "check the path")
        progress = on_progress or (lambda _: None)
        report = IngestReport()
        with IndexLock(self.index_dir, self.index_name):
            manifest = Manifest(self.index_dir / "manifest.sqlite3")
            try:
                self._run(roots, manifest, report, progress)
            finally:
                report.chunks_total = manifest.chunk_count()
                manifest.close()
        report.seconds = time.perf_counter() - started
        return report

    def _run(self, roots: list[Path], manifest: Manifest, report: IngestReport, progress: ProgressCallback) -> None:
        progress(IngestProgress("scan", 0, 0, 0))
        found = list(walk(roots))
        report.files_scanned = len(found)
        records = manifest.files()
        seen = {str(f.path) for f in found}
        resolved_roots = [r.expanduser().resolve() for r in roots]
        stale = [
            rec
            for path, rec in records.items()
            if path not in seen and any(_is_within(Path(path), root) for root in resolved_roots)
        ]
        candidates: list[tuple[FoundFile, os.stat_result]] = []
        for f in found:
            try:
                st = f.path.stat()
            except OSError as exc:
                report.skipped.append(SkippedFile(str(f.path), f"cannot read: {exc.strerror}"))
                continue
            rec = records.get(str(f.path))
            if self._is_current(rec) and rec and (rec.size, rec.mtime_ns) == (st.st_size, st.st_mtime_ns):
                report.files_unchanged += 1
            else:
                candidates.append((f, st))
        if not candidates and not stale:
            return  # nothing changed: neither the store nor the embedder is touched

        store = self.open_store()
        for rec in stale:
            ids = rec.chunk_ids + rec.pending_ids
            store.delete(ids)
            with manifest.transaction():
                manifest.remove(rec.path)
            report.files_removed += 1
            report.chunks_removed += len(rec.chunk_ids)

        chunker = Chunker(self.embedder.counter, min(self.chunk_tokens, self.embedder.max_tokens))
        batch: list[_FileWork] = []
        pending_chunks = 0
        for done, (f, st) in enumerate(candidates, 1):
            progress(IngestProgress("read", done - 1, len(candidates), report.chunks_embedded, str(f.path)))
            work = self._read(f, st, records.get(str(f.path)), chunker, manifest, report)
            if work is None:
                continue
            batch.append(work)
            pending_chunks += len(work.chunks)
            if pending_chunks >= FLUSH_CHUNKS:
                self._flush(batch, store, manifest, report, progress, done, len(candidates))
                batch, pending_chunks = [], 0
        self._flush(batch, store, manifest, report, progress, len(candidates), len(candidates))

    def _read(
        self,
        f: FoundFile,
        st: os.stat_result,
        old: FileRecord | None,
        chunker: Chunker,
        manifest: Manifest,
        report: IngestReport,
    ) -> _FileWork | None:
        path = str(f.path)
        try:
            data = f.path.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            if self._is_current(old) and old and old.sha256 == sha:
                manifest.touch(path, st.st_size, st.st_mtime_ns)
                report.files_unchanged += 1
                return None
            doc = load_document(f.path, data)
            chunks = chunker.chunk(doc)
            if not chunks:
                raise DocumentError(path, "no text to index")
        except DocumentError as exc:
            report.skipped.append(SkippedFile(path, exc.reason))
            manifest.record_failure(path, exc.reason)
            return None
        except OSError as exc:
            reason = f"cannot read: {exc.strerror or exc}"
            report.skipped.append(SkippedFile(path, reason))
            manifest.record_failure(path, reason)
            return None
        return _FileWork(f, st.st_size, st.st_mtime_ns, sha, doc.kind, chunks, old)

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
        for work in batch:
            path = str(work.found.path)
            stored = set(work.old.chunk_ids) if work.old else set()
            occurrences: dict[str, int] = {}
            ids = []
            for index, chunk in enumerate(work.chunks):
                n = occurrences[chunk.embed_text] = occurrences.get(chunk.embed_text, -1) + 1
                cid = chunk_id(path, chunk.embed_text, n)
                ids.append(cid)
                meta = _metadata(path, work.kind, index, chunk)
                if cid in stored:
                    kept_ids.append(cid)  # same text at the same place: only line numbers may move
                    kept_meta.append(meta)
                else:
                    rows.append((cid, str(meta["text_hash"]), chunk, meta))
            new_ids_by_file.append(ids)

        with manifest.transaction():
            for work, ids in zip(batch, new_ids_by_file):
                previous = work.old.pending_ids if work.old else []
                manifest.set_pending(str(work.found.path), sorted(set(ids) | set(previous)))

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
        for work, ids in zip(batch, new_ids_by_file):
            old_ids = set(work.old.chunk_ids + work.old.pending_ids) if work.old else set()
            gone = old_ids - set(ids)
            if gone:
                store.delete(sorted(gone))
            report.chunks_removed += len(gone & set(work.old.chunk_ids if work.old else []))
            report.chunks_added += len(set(ids) - set(work.old.chunk_ids if work.old else []))
            if work.old and work.old.sha256:
                report.files_changed += 1
            else:
                report.files_new += 1
        with manifest.transaction():
            for work, ids in zip(batch, new_ids_by_file):
                manifest.commit_file(
                    str(work.found.path),
                    size=work.size,
                    mtime_ns=work.mtime_ns,
                    sha256=work.sha256,
                    signature=self.signature,
                    kind=work.kind,
                    chunk_ids=ids,
                )
        progress(IngestProgress("embed", files_done, files_total, report.chunks_embedded))


def _metadata(path: str, kind: str, index: int, chunk: Chunk) -> Metadata:
    return {
        "path": path,
        "kind": kind,
        "chunk": index,
        "start_line": chunk.start_line,
        "end_line": chunk.end_line,
        "headings": HEADING_SEPARATOR.join(chunk.headings),
        "text_hash": text_hash(chunk.embed_text),
    }


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
