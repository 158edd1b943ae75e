"""The vector-store seam. `ChromaStore` talks to an embedded Chroma
`PersistentClient` (one folder per index) or to a Chroma server. Vectors are
always computed by ragkit: the collection never gets Chroma's default
embedding function, which would download a model."""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from urllib.parse import urlparse

from ragkit.embedding_models import canonical_model_id
from ragkit.errors import IndexFormatError, IndexLockedError, RagkitError

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

_EMBEDDED_CLIENTS = threading.Lock()
"""chromadb shares one system per folder per process and builds it without a lock: two
threads opening the same folder at once got a half-started one ("Could not connect to
tenant default_tenant"). Opening (and forgetting) embedded clients takes turns."""
T = TypeVar("T")

Metadata = dict[str, str | int | float | bool]


@dataclass(frozen=True)
class StoredChunk:
    id: str
    text: str
    metadata: Metadata
    score: float
    """Cosine similarity to the query, 1.0 is identical."""
    vector: list[float] | None = None
    """Only when the query asked for vectors."""


class VectorStore(Protocol):
    def upsert(self, ids: list[str], vectors: np.ndarray, texts: list[str], metadatas: list[Metadata]) -> None: ...
    def update_metadata(self, ids: list[str], metadatas: list[Metadata]) -> None: ...
    def delete(self, ids: Sequence[str]) -> None: ...
    def vectors_by_hash(self, text_hashes: Sequence[str]) -> dict[str, list[float]]: ...
    def query(
        self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None, with_vectors: bool = False
    ) -> list[StoredChunk]: ...
    def vectors(self, ids: Sequence[str]) -> dict[str, list[float]]: ...
    def count(self) -> int: ...


def _open_error(location: str, exc: Exception) -> RagkitError:
    text = f"{exc.__class__.__name__}: {exc}"
    if "locked" in text.lower():
        return IndexLockedError(
            f"index at {location} is locked by another process", "wait for the other ragkit or Chroma process to finish"
        )
    return IndexFormatError(
        f"cannot open index at {location}: written by another Chroma version or damaged ({text[:200]})",
        "rebuild it: ragkit ingest --reindex PATH",
    )


READ_ATTEMPTS = 4


def _read_retrying(read: Callable[[], T]) -> T:
    """A read, tried again while another process is writing the same embedded
    index: Chroma then fails now and then ("Error finding id", "database is
    locked") for a moment. Never a write: those are serialized by the index lock."""
    for attempt in range(READ_ATTEMPTS):
        try:
            return read()
        except Exception as exc:  # chromadb raises several unrelated classes for this
            if attempt == READ_ATTEMPTS - 1 or not transient_read_error(exc):
                raise
            log.debug("retrying a read of the index after %s", exc)
            time.sleep(0.02 * 2**attempt)
    raise AssertionError("unreachable")


def transient_read_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(sign in text for sign in ("error finding id", "locked", "busy", "error executing plan"))


def _http_client(url: str) -> Any:
    import chromadb

    parsed = urlparse(url)
    return chromadb.HttpClient(
        host=parsed.hostname or "localhost",
        port=parsed.port or 8000,
        ssl=parsed.scheme == "https",
        settings=chromadb.config.Settings(anonymized_telemetry=False),
    )


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".")[:2] if part.isdigit())


def _check_chroma_version(path: Path, write: bool) -> None:
    """Refuse an index written by a newer chromadb than the one installed:
    Chroma itself would open it and fail later, or quietly misread it."""
    import chromadb

    marker = path / "ragkit-chroma.json"
    installed = chromadb.__version__
    if marker.is_file():
        written = str(json.loads(marker.read_text()).get("chromadb", "0"))
        if _version_tuple(written) > _version_tuple(installed):
            raise IndexFormatError(
                f"index at {path} was written by chromadb {written}; this ragkit has chromadb {installed}",
                "upgrade: pip install -U chromadb, or rebuild it with: ragkit ingest --reindex PATH",
            )
    wanted = json.dumps({"chromadb": installed})
    if write and (not marker.is_file() or marker.read_text() != wanted):
        # Written aside and renamed: a reader opening the index meanwhile (another thread or process)
        # must never see the file empty or half-written.
        partial = marker.with_name(f"{marker.name}.{os.getpid()}.{threading.get_ident()}.part")
        partial.write_text(wanted)
        os.replace(partial, marker)


class ChromaStore:
    """One ragkit index is one Chroma collection."""

    _BATCH = 4096  # under Chroma's max batch size (5461 with the embedded SQLite)

    def __init__(self, collection: Any, location: str) -> None:
        self._collection = collection
        self.location = location
        self.embed_runtime = "torch"
        self.embed_model: str | None = None
        """What embedded this collection's vectors ("torch" for collections made before it was recorded)."""

    @staticmethod
    def read_afresh(path: Path) -> None:
        """Make the next open of the embedded index at `path` read it from disk
        again. chromadb keeps one state per folder per process and does not see
        what another process wrote (its searches go stale, or fail with "Error
        finding id"); the old state is left to the objects still using it."""
        from chromadb.api.shared_system_client import SharedSystemClient

        with _EMBEDDED_CLIENTS:
            SharedSystemClient._identifier_to_system.pop(str(path), None)

    @classmethod
    def open(
        cls,
        *,
        path: Path | None,
        url: str | None,
        name: str,
        embed_model: str | None,
        create: bool,
        embed_runtime: str | None = None,
    ) -> ChromaStore:
        """`embed_model` and `embed_runtime` (what embeds the vectors, e.g. "onnx-int8") are recorded when
        the collection is created and checked when given: an index's vectors all come from one model and
        one runtime. Opening to read, None takes whatever the index records."""
        import chromadb

        settings = chromadb.config.Settings(anonymized_telemetry=False, allow_reset=False)
        location = url or str(path)
        try:
            if url:
                client = _http_client(url)
            else:
                assert path is not None
                path.mkdir(parents=True, exist_ok=True)
                _check_chroma_version(path, write=create)
                with _EMBEDDED_CLIENTS:
                    client = chromadb.PersistentClient(path=str(path), settings=settings)
            if create:
                collection = client.get_or_create_collection(
                    name,
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={
                        "embed_model": embed_model,
                        "ragkit_format": 1,
                        **({"embed_runtime": embed_runtime} if embed_runtime else {}),
                    },
                )
            else:
                collection = client.get_collection(name, embedding_function=None)
        except RagkitError:
            raise
        except Exception as exc:
            if not create and exc.__class__.__name__ in ("NotFoundError", "InvalidCollectionException", "ValueError"):
                from ragkit.errors import EmptyIndexError

                raise EmptyIndexError(f"index at {location} is empty", "run: ragkit ingest PATH") from exc
            raise _open_error(location, exc) from exc
        stored_model = (collection.metadata or {}).get("embed_model")
        if embed_model and stored_model and canonical_model_id(stored_model) != canonical_model_id(embed_model):
            raise IndexFormatError(
                f"index at {location} was built with embedding model {stored_model!r}, not {embed_model!r}",
                f"set embed_model = {stored_model!r}, or rebuild with ragkit ingest --reindex PATH",
            )
        stored_runtime = str((collection.metadata or {}).get("embed_runtime", "torch"))
        if embed_runtime and stored_runtime != embed_runtime:
            raise IndexFormatError(
                f"index at {location} was embedded by {stored_runtime}, not {embed_runtime}",
                "rebuild it with ragkit ingest --reindex PATH",
            )
        store = cls(collection, location)
        store.embed_runtime = stored_runtime
        store.embed_model = str(stored_model or embed_model or "") or None
        return store

    @staticmethod
    def drop(url: str, name: str) -> None:
        client = _http_client(url)
        if name in [c.name for c in client.list_collections()]:
            client.delete_collection(name)

    def upsert(self, ids: list[str], vectors: np.ndarray, texts: list[str], metadatas: list[Metadata]) -> None:
        for i in range(0, len(ids), self._BATCH):
            j = i + self._BATCH
            self._collection.upsert(
                ids=ids[i:j],
                embeddings=vectors[i:j],
                documents=texts[i:j],
                metadatas=metadatas[i:j],  # type: ignore[arg-type]
            )

    def update_metadata(self, ids: list[str], metadatas: list[Metadata]) -> None:
        for i in range(0, len(ids), self._BATCH):
            self._collection.update(ids=ids[i : i + self._BATCH], metadatas=metadatas[i : i + self._BATCH])  # type: ignore[arg-type]

    def delete(self, ids: Sequence[str]) -> None:
        ids = list(ids)
        for i in range(0, len(ids), self._BATCH):
            self._collection.delete(ids=ids[i : i + self._BATCH])

    def vectors_by_hash(self, text_hashes: Sequence[str]) -> dict[str, list[float]]:
        """Stored vectors of chunks whose embedded text has one of these hashes,
        so identical text (a duplicate, a renamed file) is never embedded twice."""
        found: dict[str, list[float]] = {}
        hashes = list(dict.fromkeys(text_hashes))
        for i in range(0, len(hashes), 512):
            result = self._collection.get(
                where={"text_hash": {"$in": hashes[i : i + 512]}}, include=["embeddings", "metadatas"]
            )
            for meta, vector in zip(
                result["metadatas"] or [], result["embeddings"] if result["embeddings"] is not None else []
            ):
                found[str(meta["text_hash"])] = list(vector)
        return found

    def query(
        self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None, with_vectors: bool = False
    ) -> list[StoredChunk]:
        include = ["documents", "metadatas", "distances"] + (["embeddings"] if with_vectors else [])
        result = _read_retrying(
            lambda: self._collection.query(
                query_embeddings=[vector],
                n_results=k,
                where=where,
                include=include,  # type: ignore[arg-type]
            )
        )
        ids = result["ids"][0]
        docs = (result["documents"] or [[]])[0]
        metas = (result["metadatas"] or [[]])[0]
        dists = (result["distances"] or [[]])[0]
        embeddings = result.get("embeddings")
        vectors = list(embeddings[0]) if with_vectors and embeddings is not None else [None] * len(ids)
        return [
            StoredChunk(
                id=i,
                text=d or "",
                metadata=dict(m or {}),
                score=1.0 - float(dist),
                vector=None if v is None else [float(x) for x in v],
            )
            for i, d, m, dist, v in zip(ids, docs, metas, dists, vectors)
        ]

    def vectors(self, ids: Sequence[str]) -> dict[str, list[float]]:
        found: dict[str, list[float]] = {}
        ids = list(ids)
        for i in range(0, len(ids), self._BATCH):
            part = ids[i : i + self._BATCH]
            try:
                result = _read_retrying(functools.partial(self._collection.get, ids=part, include=["embeddings"]))
            except Exception as exc:
                if not transient_read_error(exc):
                    raise
                # Vectors only refine scores (dense score of a keyword hit, MMR): go without.
                log.info("vectors unavailable while another process writes the index: %s", exc)
                continue
            embeddings = result["embeddings"] if result["embeddings"] is not None else []
            found.update((cid, [float(x) for x in vector]) for cid, vector in zip(result["ids"], embeddings))
        return found

    def count(self) -> int:
        return int(self._collection.count())
