"""The keyword side of hybrid search: BM25 over the chunks the manifest
holds, with SQLite's FTS5 (Porter stemming, diacritics folded; text without
spaces as character bigrams, see ragkit.languages). Ingest
writes it in the same transactions as the manifest (see `Manifest`), so it
needs no sync of its own and survives a killed ingest like the manifest does.
It is a file on the local disk even when vectors live on a Chroma server."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from ragkit.languages import keyword_tokens

# Words too common to say what a question is about; dropping them from the
# query changes BM25's ranking little (their IDF is near zero) and makes it faster.
STOPWORDS = frozenset(
    """a about above after again against all am an and any are as at be because been before being below between both
    but by can could did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just me more most my myself no nor not now of off on
    once only or other our ours ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours yourself yourselves""".split()  # noqa: SIM905
)


@dataclass(frozen=True)
class KeywordHit:
    id: str
    path: str
    text: str
    meta: dict[str, str | int | float | bool]
    score: float
    """BM25 score, higher is better (FTS5 reports it negated)."""


def query_words(query: str) -> list[str]:
    """The question's distinct words as the keyword index has them (runs of Chinese, Japanese, Thai...
    as character bigrams: see ragkit.languages), stopwords dropped (unless that leaves none)."""
    words = list(dict.fromkeys(keyword_tokens(query)))
    return [w for w in words if w not in STOPWORDS] or words


def match_expression(words: list[str]) -> str | None:
    """An FTS5 query matching any of the words: BM25 ranks passages with
    more, and rarer, words first."""
    return " OR ".join(f'"{w}"' for w in words) or None


class KeywordIndex:
    """Reads the keyword index of one ragkit index; safe to share between threads."""

    def __init__(self, manifest_path: Path) -> None:
        self.path = manifest_path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    @property
    def _db(self) -> sqlite3.Connection:
        # Connected on first use: the manifest does not exist before the first ingest.
        if self._conn is None:
            self._conn = sqlite3.connect(str(self.path), timeout=30, isolation_level=None, check_same_thread=False)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def data_version(self) -> int:
        """Changes whenever another connection (another process's ingest, or this
        process's) commits to the manifest: SQLite's PRAGMA data_version."""
        if not self.path.is_file():
            return 0
        with self._lock:
            return int(self._db.execute("PRAGMA data_version").fetchone()[0])

    def generation(self) -> int:
        """Bumped by every ingest or forget that changes the index (kept in the manifest, across processes)."""
        if not self.path.is_file():
            return 0
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key='generation'").fetchone()
        return int(row[0]) if row else 0

    def has_files(self) -> bool:
        """Whether the index holds any completely indexed file (cheap: one row)."""
        return self._count("SELECT count(*) FROM (SELECT 1 FROM files WHERE sha256 != '' LIMIT 1)") > 0

    def indexed_files(self) -> list[tuple[str, str, int]]:
        """(path, kind, mtime_ns) of every completely indexed file, for `Where` filters."""
        if not self.path.is_file():
            return []
        with self._lock:
            return self._db.execute("SELECT path, kind, mtime_ns FROM files WHERE sha256 != ''").fetchall()

    def committed_ids(self, paths: Collection[str]) -> set[str]:
        """The chunk ids the manifest has committed for these files. Vector hits
        outside this set belong to a file an ingest is rewriting right now (its
        new chunks reach the store before the manifest's commit, the old ones
        leave after it): dropping them shows a reader each file either wholly
        as before or wholly as after."""
        if not paths or not self.path.is_file():
            return set()
        ids: set[str] = set()
        ordered = sorted(paths)
        with self._lock:
            for i in range(0, len(ordered), 500):
                part = ordered[i : i + 500]
                marks = ",".join("?" * len(part))
                for (chunk_ids,) in self._db.execute(f"SELECT chunk_ids FROM files WHERE path IN ({marks})", part):
                    ids.update(json.loads(chunk_ids))
        return ids

    def chunks_of(self, path: str) -> list[KeywordHit]:
        """Every chunk of one file, in document order (whole-document answers)."""
        if not self.path.is_file():
            return []
        with self._lock:
            rows = self._db.execute(
                "SELECT id, path, text, meta FROM chunks WHERE path = ? ORDER BY json_extract(meta, '$.chunk'), rowid",
                (path,),
            ).fetchall()
        return [KeywordHit(id=r[0], path=r[1], text=r[2], meta=json.loads(r[3]), score=0.0) for r in rows]

    def count(self) -> int:
        """Chunks in the keyword index."""
        return self._count("SELECT count(*) FROM chunks")

    def missing(self) -> int:
        """Chunks the manifest holds that the keyword index lacks: indexes
        built before keyword search, until the next ingest adds them."""
        return max(0, self._count("SELECT coalesce(sum(json_array_length(chunk_ids)), 0) FROM files") - self.count())

    def _count(self, sql: str) -> int:
        if not self.path.is_file():
            return 0
        with self._lock:
            try:
                return int(self._db.execute(sql).fetchone()[0])
            except sqlite3.OperationalError:  # no such table: an index from before keyword search
                return 0

    def search(
        self, query: str, k: int, paths: Collection[str] | None = None, max_postings: int | None = None
    ) -> list[KeywordHit]:
        """The k best chunks by BM25; with `paths`, only chunks of those files.

        `max_postings` leaves out words found in more chunks than that
        (keeping at least the two rarest): FTS5 scores every chunk a query
        word occurs in, so a common word costs time in proportion to the
        index, while its IDF is small and it moves the ranking little. This
        bounds the work per query as the index grows (at 100K chunks BM25
        goes from 76 to about 10 ms; bench/search_latency.py)."""
        if k <= 0 or (paths is not None and not paths) or not self.path.is_file():
            return []
        sql = "SELECT rowid, -bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?"
        with self._lock:
            words = query_words(query)
            if max_postings is not None and len(words) > 2:
                words = self._rare_words(words, max_postings)
            expression = match_expression(words)
            if expression is None:
                return []
            if paths is not None:
                self._db.execute("CREATE TEMP TABLE IF NOT EXISTS allowed_paths (path TEXT PRIMARY KEY)")
                self._db.execute("DELETE FROM allowed_paths")
                self._db.executemany("INSERT OR IGNORE INTO allowed_paths VALUES (?)", ((p,) for p in paths))
                sql += " AND rowid IN (SELECT c.rowid FROM chunks c JOIN allowed_paths a ON c.path = a.path)"
            try:
                ranked = self._db.execute(sql + " ORDER BY rank LIMIT ?", (expression, k)).fetchall()
            except sqlite3.OperationalError:  # an index from before keyword search
                return []
            rows = self._rows([rowid for rowid, _ in ranked])
        return [
            KeywordHit(id=r[0], path=r[1], text=r[2], meta=json.loads(r[3]), score=float(score))
            for (rowid, score) in ranked
            if (r := rows.get(rowid)) is not None
        ]

    def _rare_words(self, words: list[str], max_postings: int) -> list[str]:
        cap = max_postings + 1
        try:
            # Counting stops at the cap, so a common word costs no more than a rare one.
            counted = []
            for word in words:
                found = self._db.execute(
                    "SELECT count(*) FROM (SELECT 1 FROM chunks_fts WHERE chunks_fts MATCH ? LIMIT ?)",
                    (f'"{word}"', cap),
                ).fetchone()[0]
                if found:
                    counted.append((int(found), word))
        except sqlite3.OperationalError:
            return words
        counted.sort()
        rare = [word for found, word in counted if found < cap]
        return rare if len(rare) >= 2 else [word for _, word in counted[:2]]

    def _rows(self, rowids: list[int]) -> dict[int, tuple[str, str, str, str]]:
        if not rowids:
            return {}
        marks = ",".join("?" * len(rowids))
        found = self._db.execute(f"SELECT rowid, id, path, text, meta FROM chunks WHERE rowid IN ({marks})", rowids)
        return {row[0]: (row[1], row[2], row[3], row[4]) for row in found}
