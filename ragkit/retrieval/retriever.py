"""Hybrid retrieval: dense vectors (Chroma) and BM25 (the keyword index)
each rank candidates, reciprocal rank fusion merges the two lists, near
duplicates are dropped, and an optional cross-encoder and MMR reorder the
top. Each hit keeps a `Retrieval` record of how it was found.

Dense search finds paraphrases, BM25 finds exact names, numbers and rare
terms; they fail on different questions, and rank fusion needs no score
calibration between them, only ranks."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ragkit.embedders import embed_queries
from ragkit.retrieval.lexical import KeywordIndex

if TYPE_CHECKING:
    from ragkit.embedders import Embedder
    from ragkit.retrieval.rerank import Reranker
    from ragkit.stores import VectorStore

log = logging.getLogger(__name__)

MODES = ("hybrid", "dense", "bm25")


@dataclass(frozen=True)
class Retrieval:
    """How a passage was found: what `--explain` shows."""

    dense_rank: int | None = None
    """Rank among the dense (vector) results, 1 = best; None: not among them."""
    dense_score: float | None = None
    """Cosine similarity to the question."""
    bm25_rank: int | None = None
    bm25_score: float | None = None
    fused_score: float | None = None
    """Reciprocal rank fusion: the sum over retrievers of weight / (rrf_k + rank)."""
    rerank_score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class RetrievalOptions:
    mode: str = "hybrid"
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    rrf_k: int = 10
    depth: int = 40
    """Candidates taken from each retriever before fusion (at least k)."""
    bm25_max_postings: int | None = 5000
    """BM25 ignores query words found in more chunks than this (see `KeywordIndex.search`)."""
    dedupe: bool = True
    rerank: bool = True
    """Rerank with the retriever's cross-encoder, if it has one."""
    rerank_depth: int = 20
    """How many of the fused candidates the cross-encoder reorders."""
    mmr_lambda: float | None = None
    """Maximal marginal relevance: 1.0 ranks by relevance alone, lower values
    prefer passages unlike those already chosen; None turns it off."""


@dataclass
class Hit:
    id: str
    text: str
    meta: dict[str, Any]
    retrieval: Retrieval = field(default_factory=Retrieval)
    vector: list[float] | None = None

    @property
    def score(self) -> float:
        """What the final order was decided by."""
        r = self.retrieval
        for value in (r.rerank_score, r.fused_score, r.dense_score, r.bm25_score):
            if value is not None:
                return value
        return 0.0


class Retriever:
    def __init__(
        self,
        *,
        embedder: Embedder,
        open_store: Callable[[], VectorStore],
        keywords: KeywordIndex,
        reranker: Reranker | None = None,
        options: RetrievalOptions | None = None,
    ) -> None:
        self.embedder = embedder
        self.open_store = open_store
        self.keywords = keywords
        self.reranker = reranker
        self.options = options or RetrievalOptions()

    @cached_property
    def _pool(self) -> ThreadPoolExecutor:
        return ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragkit-bm25")

    def search(
        self,
        query: str,
        k: int,
        *,
        paths: Collection[str] | None = None,
        options: RetrievalOptions | None = None,
    ) -> list[Hit]:
        """The k best chunks for the query, best first; with `paths`, only from those files."""
        opt = options or self.options
        if opt.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {opt.mode!r}")
        depth = max(opt.depth, k)
        need_vectors = opt.mmr_lambda is not None
        query_vector = None
        keyword_future = None
        if opt.mode in ("hybrid", "bm25"):
            # BM25 (SQLite, outside the GIL) runs on a worker thread while this one embeds the query and asks Chroma.
            keyword_future = self._pool.submit(self.keywords.search, query, depth, paths, opt.bm25_max_postings)
        dense: list[Hit] = []
        if opt.mode in ("hybrid", "dense"):
            query_vector = embed_queries(self.embedder, [query])[0]
            where = None if paths is None else {"path": {"$in": sorted(paths)}}
            try:
                stored = self.open_store().query(query_vector, depth, where=where, with_vectors=need_vectors)
            except Exception as exc:
                from ragkit.stores import transient_read_error

                if opt.mode == "dense" or not transient_read_error(exc):
                    raise
                # Another process is rewriting this embedded index right now: answer
                # from the keyword index (committed in SQLite) rather than fail.
                log.warning("vector search unavailable while the index is being written (%s): keyword results", exc)
                stored = []
            dense = [
                Hit(s.id, s.text, s.metadata, Retrieval(dense_rank=rank, dense_score=round(s.score, 4)), s.vector)
                for rank, s in enumerate(stored, 1)
            ]
        keyword: list[Hit] = []
        if keyword_future is not None:
            keyword = [
                Hit(h.id, h.text, h.meta, Retrieval(bm25_rank=rank, bm25_score=round(h.score, 4)))
                for rank, h in enumerate(keyword_future.result(), 1)
            ]
        # One read of what the manifest has committed, for both lists: while an
        # ingest rewrites a file, each result shows it wholly old or wholly new.
        committed = self.keywords.committed_ids({str(h.meta.get("path")) for h in dense + keyword})
        dense = [h for h in dense if h.id in committed]
        keyword = [h for h in keyword if h.id in committed]
        if opt.mode == "dense":
            hits = dense
        elif opt.mode == "bm25":
            hits = keyword
        else:
            hits = fuse(dense, keyword, opt.dense_weight, opt.bm25_weight, opt.rrf_k)
        reranker = self.reranker if opt.rerank else None
        if opt.dedupe:
            hits = drop_near_duplicates(hits, limit=max(k, opt.rerank_depth if reranker else k))
        if reranker is not None and hits:
            hits = _rerank(reranker, query, hits, opt.rerank_depth)
        if opt.mmr_lambda is not None and len(hits) > 1:
            hits = self._mmr(hits, k, opt.mmr_lambda)
        top = hits[:k]
        if opt.mode == "hybrid":
            self._fill_dense_scores(top, query_vector)
        return top

    def _mmr(self, hits: list[Hit], k: int, lam: float) -> list[Hit]:
        import numpy as np

        missing = [h.id for h in hits if h.vector is None]
        if missing:
            found = self.open_store().vectors(missing)
            for h in hits:
                if h.vector is None:
                    h.vector = found.get(h.id)
        pool = [h for h in hits if h.vector is not None]
        if len(pool) < 2:
            return hits
        vectors = np.asarray([h.vector for h in pool], dtype=np.float32)
        # Relevance from the order already decided (rerank, fusion or one retriever), scaled to 0-1.
        relevance = np.linspace(1.0, 0.0, num=len(pool))
        similarity = vectors @ vectors.T
        chosen: list[int] = []
        left = list(range(len(pool)))
        while left and len(chosen) < k:
            redundancy = similarity[np.ix_(left, chosen)].max(axis=1) if chosen else np.zeros(len(left))
            scores = lam * relevance[left] - (1 - lam) * redundancy
            chosen.append(left.pop(int(np.argmax(scores))))
        return [pool[i] for i in chosen]

    def _fill_dense_scores(self, hits: list[Hit], query_vector: Any) -> None:
        """Cosine similarity for hits only BM25 found, so every passage shows one."""
        missing = [h for h in hits if h.retrieval.dense_score is None]
        if not missing or query_vector is None:
            return
        import numpy as np

        found = self.open_store().vectors([h.id for h in missing])
        for h in missing:
            vector = found.get(h.id)
            if vector is not None:
                cosine = float(np.dot(np.asarray(vector, dtype=np.float32), query_vector))
                h.retrieval = replace(h.retrieval, dense_score=round(cosine, 4))


def _rerank(reranker: Reranker, query: str, hits: list[Hit], depth: int) -> list[Hit]:
    head, tail = hits[:depth], hits[depth:]
    # The heading path tells the cross-encoder what a passage is about, as it does the embedder.
    texts = [f"{h.meta['headings']}\n{h.text}" if h.meta.get("headings") else h.text for h in head]
    scores = reranker.score(query, texts)
    for hit, score in zip(head, scores):
        hit.retrieval = replace(hit.retrieval, rerank_score=round(score, 4))
    head.sort(key=lambda h: -(h.retrieval.rerank_score or 0.0))
    return head + tail


def fuse(dense: list[Hit], keyword: list[Hit], dense_weight: float, bm25_weight: float, rrf_k: int) -> list[Hit]:
    """Reciprocal rank fusion: a passage ranked high by either retriever
    rises, one ranked high by both rises most."""
    merged: dict[str, Hit] = {}
    for hit in dense:
        merged[hit.id] = Hit(hit.id, hit.text, hit.meta, hit.retrieval, hit.vector)
    for hit in keyword:
        found = merged.get(hit.id)
        if found is None:
            merged[hit.id] = Hit(hit.id, hit.text, hit.meta, hit.retrieval)
        else:
            found.retrieval = replace(
                found.retrieval, bm25_rank=hit.retrieval.bm25_rank, bm25_score=hit.retrieval.bm25_score
            )
    for hit in merged.values():
        r = hit.retrieval
        score = 0.0
        if r.dense_rank is not None:
            score += dense_weight / (rrf_k + r.dense_rank)
        if r.bm25_rank is not None:
            score += bm25_weight / (rrf_k + r.bm25_rank)
        hit.retrieval = replace(r, fused_score=round(score, 6))
    return sorted(merged.values(), key=lambda h: -(h.retrieval.fused_score or 0.0))


_WORDS = re.compile(r"\w+")


def _shingles(text: str) -> set[int]:
    words = _WORDS.findall(text.lower())
    if len(words) < 3:
        return {hash(" ".join(words))}
    return {hash((words[i], words[i + 1], words[i + 2])) for i in range(len(words) - 2)}


def drop_near_duplicates(hits: list[Hit], *, limit: int, threshold: float = 0.85) -> list[Hit]:
    """Keep the first of passages that say (nearly) the same: the same page
    in two copies of a manual, a README vendored twice. Compared by word
    3-shingles through an inverted index (cost grows with the text, not
    with pairs); stops comparing once `limit` passages are kept."""
    kept: list[Hit] = []
    kept_sizes: list[int] = []
    owners: dict[int, list[int]] = {}  # shingle -> indexes of kept passages that have it
    seen_hashes: set[str] = set()
    for index, hit in enumerate(hits):
        if len(kept) >= limit:
            return kept + hits[index:]
        text_hash = str(hit.meta.get("text_hash", ""))
        if text_hash and text_hash in seen_hashes:
            continue
        shingles = _shingles(hit.text)
        shared: dict[int, int] = {}
        for shingle in shingles:
            for owner in owners.get(shingle, ()):
                shared[owner] = shared.get(owner, 0) + 1
        if any(n / (len(shingles) + kept_sizes[o] - n) >= threshold for o, n in shared.items()):
            continue
        if text_hash:
            seen_hashes.add(text_hash)
        for shingle in shingles:
            owners.setdefault(shingle, []).append(len(kept))
        kept.append(hit)
        kept_sizes.append(len(shingles))
    return kept
