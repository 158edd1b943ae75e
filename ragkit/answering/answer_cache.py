"""Answers already given: the same question over the same index state, model
and settings returns the stored answer at once instead of paying for another
prompt evaluation (a minute of phi-3-mini on a laptop CPU).

Entries live in the index folder (answers.sqlite3), keyed by a hash of the
question, the index's generation (bumped by every ingest or forget that
changes it, see `Manifest`), the model file and every setting. An entry of an
older generation can never match again; storing a new answer drops them."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from ragkit.answers import Answer, Source
from ragkit.retrieval.retriever import Retrieval

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    key TEXT PRIMARY KEY,
    generation INTEGER NOT NULL,
    created REAL NOT NULL,
    answer TEXT NOT NULL,
    prompt TEXT NOT NULL
)
"""


@dataclasses.dataclass(frozen=True)
class CachedAnswer:
    answer: Answer
    prompt: str
    created: float


def answer_key(question: str, generation: int, model: str, settings: dict[str, Any], scope: str = "") -> str:
    """What an answer depends on: the question (spacing aside), the index state, the model file, the settings
    and any --where scope."""
    parts = [" ".join(question.split()), generation, model, settings, scope]
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def answer_from_dict(data: dict[str, Any]) -> Answer:
    sources = []
    for source in data.get("sources", []):
        retrieval = source.get("retrieval")
        sources.append(Source(**{**source, "retrieval": Retrieval(**retrieval) if retrieval else None}))
    known = {f.name for f in dataclasses.fields(Answer)}
    return Answer(**{**{k: v for k, v in data.items() if k in known}, "sources": sources})


class AnswerCache:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _db(self) -> Any:
        with self._lock:
            db = sqlite3.connect(self.path, timeout=30)
            try:
                db.execute(_SCHEMA)
                with db:
                    yield db
            finally:
                db.close()

    def get(self, key: str) -> CachedAnswer | None:
        if not self.path.exists():
            return None
        try:
            with self._db() as db:
                row = db.execute("SELECT answer, prompt, created FROM answers WHERE key=?", (key,)).fetchone()
            if row is None:
                return None
            answer = dataclasses.replace(answer_from_dict(json.loads(row[0])), cached=True)
            return CachedAnswer(answer, row[1], row[2])
        except (sqlite3.Error, ValueError, TypeError) as exc:  # a damaged cache costs a model run, nothing else
            log.warning("answer cache %s unreadable (%s): asking the model", self.path, exc)
            return None

    def put(self, key: str, generation: int, answer: Answer, prompt: str) -> None:
        try:
            with self._db() as db:
                db.execute("DELETE FROM answers WHERE generation != ?", (generation,))
                db.execute(
                    "INSERT OR REPLACE INTO answers (key, generation, created, answer, prompt) VALUES (?, ?, ?, ?, ?)",
                    (key, generation, time.time(), json.dumps(answer.to_dict()), prompt),
                )
        except sqlite3.Error as exc:
            log.warning("answer cache %s not written (%s)", self.path, exc)
