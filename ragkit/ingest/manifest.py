"""Per-index record of what was ingested: for each file its size, mtime,
content hash and chunk ids. It decides what ingest must re-read, and its
"pending" ids make ingest crash-safe: ids are written here before they reach
the vector store, so chunks of an interrupted run are found and cleaned up.

It also holds each committed chunk's text and metadata with an FTS5
full-text index over the embedded text: the BM25 side of hybrid search.
They change in the same transaction as the file's record, so the keyword
index always matches the manifest exactly, whatever kills an ingest."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ragkit.errors import IndexFormatError, IndexLockedError
from ragkit.languages import keyword_text

log = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
KEYWORD_ANALYZER = "bigrams-1"
"""How the keyword index's text is tokenized (see ragkit.languages.keyword_text), kept in `meta`: an
index tokenized otherwise has its keyword rows rewritten once, from the text they hold (no re-embedding)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS files (
    path TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    signature TEXT NOT NULL,
    kind TEXT NOT NULL,
    chunk_ids TEXT NOT NULL DEFAULT '[]',
    pending_ids TEXT NOT NULL DEFAULT '[]',
    ingested_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS failures (path TEXT PRIMARY KEY, reason TEXT NOT NULL, at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS unread (path TEXT PRIMARY KEY, suffix TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    rowid INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    path TEXT NOT NULL,
    text TEXT NOT NULL,
    meta TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_by_path ON chunks(path);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(body, tokenize='porter unicode61 remove_diacritics 2');
"""
# Columns added after the first release, created on open when an older index lacks them.
_ADDED_COLUMNS = (
    ("failures", "size", "INTEGER NOT NULL DEFAULT -1"),
    ("failures", "mtime_ns", "INTEGER NOT NULL DEFAULT -1"),
    ("failures", "signature", "TEXT NOT NULL DEFAULT ''"),
    ("files", "ocr_pages", "INTEGER NOT NULL DEFAULT 0"),
    ("files", "language", "TEXT NOT NULL DEFAULT ''"),  # ISO 639-1; '' for code, too little text, older indexes
)


@dataclass(frozen=True)
class ChunkRow:
    """A chunk as the keyword index keeps it."""

    id: str
    text: str
    """Shown to the user and the LLM."""
    embed_text: str
    """Indexed for BM25: the heading path and the text, as the embedder sees it."""
    meta: dict[str, str | int | float | bool]


@dataclass(frozen=True)
class Failure:
    """A file that could not be indexed, as it was when it failed: it is not
    read again until its size, mtime or the parsers change (or on request)."""

    path: str
    reason: str
    size: int
    mtime_ns: int
    signature: str


@dataclass(frozen=True)
class FileRecord:
    path: str
    size: int
    mtime_ns: int
    sha256: str
    signature: str
    kind: str
    chunk_ids: list[str]
    pending_ids: list[str]
    ingested_at: float


class Manifest:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)
        for table, column, definition in _ADDED_COLUMNS:
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            if column not in have:
                self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")
        found = self._db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        if found is None:
            self._db.execute("INSERT INTO meta VALUES ('format', ?)", (str(MANIFEST_FORMAT),))
        elif int(found[0]) > MANIFEST_FORMAT:
            raise IndexFormatError(
                f"index at {path.parent} was written by a newer ragkit (format {found[0]})", "upgrade ragkit"
            )

    def close(self) -> None:
        self._db.close()

    def upgrade_keywords(self, index_name: str) -> int:
        """Bring the keyword index to today's tokenizer: rows holding text without spaces (Chinese,
        Japanese, Thai...) were one token per run before bigrams; they are tokenized again from the text
        they hold, in one transaction. Returns the rows rewritten (0 when the index is already current)."""
        if self.get_meta("keyword_analyzer") == KEYWORD_ANALYZER:
            return 0
        with self.transaction():
            if self.get_meta("keyword_analyzer") == KEYWORD_ANALYZER:  # another process was first
                return 0
            stale = [
                (rowid, body)
                for rowid, body in self._db.execute("SELECT rowid, body FROM chunks_fts")
                if not body.isascii()  # NFKC and bigrams leave ASCII as it is
            ]
            rewritten = [(rowid, keyword_text(body)) for rowid, body in stale]
            rewritten = [(rowid, new) for (rowid, new), (_, old) in zip(rewritten, stale) if new != old]
            if rewritten:
                log.warning(
                    "index %r: re-tokenizing %d keyword-index chunks for text without spaces (Chinese, Japanese,"
                    " Thai...); nothing is re-embedded",
                    index_name, len(rewritten),
                )  # fmt: skip
            for rowid, body in rewritten:
                self._db.execute("DELETE FROM chunks_fts WHERE rowid=?", (rowid,))
                self._db.execute("INSERT INTO chunks_fts (rowid, body) VALUES (?, ?)", (rowid, body))
            self.set_meta("keyword_analyzer", KEYWORD_ANALYZER)
        return len(rewritten)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def files(self) -> dict[str, FileRecord]:
        rows = self._db.execute(
            "SELECT path, size, mtime_ns, sha256, signature, kind, chunk_ids, pending_ids, ingested_at FROM files"
        )
        return {
            row[0]: FileRecord(
                path=row[0],
                size=row[1],
                mtime_ns=row[2],
                sha256=row[3],
                signature=row[4],
                kind=row[5],
                chunk_ids=json.loads(row[6]),
                pending_ids=json.loads(row[7]),
                ingested_at=row[8],
            )
            for row in rows
        }

    def set_pending(self, path: str, ids: list[str]) -> None:
        """Record ids about to be written for a file, before they are written."""
        updated = self._db.execute("UPDATE files SET pending_ids=? WHERE path=?", (json.dumps(ids), path)).rowcount
        if not updated:
            self._db.execute(
                "INSERT INTO files (path, size, mtime_ns, sha256, signature, kind, pending_ids, ingested_at)"
                " VALUES (?, -1, -1, '', '', '', ?, 0)",
                (path, json.dumps(ids)),
            )

    def commit_file(
        self,
        path: str,
        *,
        size: int,
        mtime_ns: int,
        sha256: str,
        signature: str,
        kind: str,
        chunks: Sequence[ChunkRow],
        ocr_pages: int = 0,
        pending: Sequence[str] = (),
        language: str = "",
    ) -> None:
        """Record a file as indexed with exactly these chunks (call inside a transaction);
        `pending` are stale ids still to be deleted from the vector store."""
        chunk_ids = [c.id for c in chunks]
        self._db.execute(
            "INSERT OR REPLACE INTO files (path, size, mtime_ns, sha256, signature, kind, chunk_ids, pending_ids,"
            " ingested_at, ocr_pages, language) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (path, size, mtime_ns, sha256, signature, kind, json.dumps(chunk_ids), json.dumps(list(pending)),
             time.time(), ocr_pages, language),
        )  # fmt: skip
        self._db.execute("DELETE FROM failures WHERE path=?", (path,))
        self._bump_generation()
        stored = dict(self._db.execute("SELECT id, rowid FROM chunks WHERE path=?", (path,)).fetchall())
        wanted = set(chunk_ids)
        self._delete_chunk_rows([rowid for cid, rowid in stored.items() if cid not in wanted])
        for chunk in chunks:
            meta = json.dumps(chunk.meta)
            if chunk.id in stored:  # same text at the same place: only line numbers may have moved
                self._db.execute("UPDATE chunks SET meta=? WHERE rowid=?", (meta, stored[chunk.id]))
                continue
            cursor = self._db.execute(
                "INSERT INTO chunks (id, path, text, meta) VALUES (?, ?, ?, ?)", (chunk.id, path, chunk.text, meta)
            )
            self._db.execute(
                "INSERT INTO chunks_fts (rowid, body) VALUES (?, ?)", (cursor.lastrowid, keyword_text(chunk.embed_text))
            )

    def _delete_chunk_rows(self, rowids: list[int]) -> None:
        for i in range(0, len(rowids), 500):
            part = rowids[i : i + 500]
            marks = ",".join("?" * len(part))
            self._db.execute(f"DELETE FROM chunks_fts WHERE rowid IN ({marks})", part)
            self._db.execute(f"DELETE FROM chunks WHERE rowid IN ({marks})", part)

    def _bump_generation(self) -> None:
        """The index's content changed: answers given before no longer hold (see AnswerCache)."""
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES ('generation', '1')"
            " ON CONFLICT(key) DO UPDATE SET value = CAST(value AS INTEGER) + 1"
        )

    def touch(self, path: str, size: int, mtime_ns: int) -> None:
        self._db.execute("UPDATE files SET size=?, mtime_ns=? WHERE path=?", (size, mtime_ns, path))

    def remove(self, path: str) -> None:
        self._bump_generation()
        rowids = [row[0] for row in self._db.execute("SELECT rowid FROM chunks WHERE path=?", (path,))]
        self._delete_chunk_rows(rowids)
        self._db.execute("DELETE FROM files WHERE path=?", (path,))
        self._db.execute("DELETE FROM failures WHERE path=?", (path,))
        self._db.execute("DELETE FROM unread WHERE path=?", (path,))

    def record_failure(self, path: str, reason: str, size: int = -1, mtime_ns: int = -1, signature: str = "") -> None:
        """`size`, `mtime_ns` and `signature` say which version of the file failed; -1 and '' (a
        folder, a broken link) match nothing, so those are looked at again on the next ingest."""
        self._db.execute(
            "INSERT OR REPLACE INTO failures (path, reason, at, size, mtime_ns, signature) VALUES (?, ?, ?, ?, ?, ?)",
            (path, reason, time.time(), size, mtime_ns, signature),
        )

    def clear_failure(self, path: str) -> None:
        self._db.execute("DELETE FROM failures WHERE path=?", (path,))

    def failures(self) -> dict[str, Failure]:
        rows = self._db.execute("SELECT path, reason, size, mtime_ns, signature FROM failures")
        return {row[0]: Failure(*row) for row in rows}

    def set_unread(self, paths_by_suffix: dict[str, str], under: Sequence[str]) -> None:
        """Replace the files of types no loader reads below the folders `under` (path -> suffix)."""
        for folder in under:
            prefix = folder.rstrip(os.sep) + os.sep
            self._db.execute("DELETE FROM unread WHERE path=? OR substr(path, 1, ?)=?", (folder, len(prefix), prefix))
        self._db.executemany("INSERT OR REPLACE INTO unread VALUES (?, ?)", paths_by_suffix.items())

    def unread_by_suffix(self) -> dict[str, int]:
        rows = self._db.execute("SELECT suffix, count(*) FROM unread GROUP BY suffix ORDER BY count(*) DESC, suffix")
        return {row[0]: row[1] for row in rows}

    def ocr_pages(self) -> int:
        return int(self._db.execute("SELECT coalesce(sum(ocr_pages), 0) FROM files").fetchone()[0])

    def languages(self) -> dict[str, tuple[int, int]]:
        """Files and chunks per detected language ('' for files with none: code, little text, older indexes),
        most chunks first."""
        rows = self._db.execute(
            "SELECT language, count(*), coalesce(sum(json_array_length(chunk_ids)), 0) FROM files"
            " GROUP BY language ORDER BY 3 DESC, 1"
        )
        return {row[0]: (int(row[1]), int(row[2])) for row in rows}

    def chunk_count(self) -> int:
        row = self._db.execute("SELECT coalesce(sum(json_array_length(chunk_ids)), 0) FROM files").fetchone()
        return int(row[0])


class IndexLock:
    """An exclusive lock on an index for the length of an ingest, so two
    writers never interleave. Readers (search, ask) do not take it."""

    def __init__(self, index_dir: Path, index_name: str) -> None:
        self.path = index_dir / "ingest.lock"
        self.index_name = index_name
        self._fh: object | None = None

    def __enter__(self) -> IndexLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            import fcntl

            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # pragma: no cover - Windows: no advisory lock
            pass
        except OSError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise IndexLockedError(
                f"index {self.index_name!r} is being updated by another ragkit process (pid {holder})",
                "wait for that ingest to finish, then run this one again",
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()  # type: ignore[attr-defined]
            self._fh = None
