"""Tune hybrid fusion (rrf_k, weights, candidates per retriever) on a BEIR
dataset's train split, without re-running the retrievers for every setting:
each query's dense and BM25 rankings are fetched once, then fused offline
with ragkit's own `fuse` and `drop_near_duplicates`.

  python bench/tune_fusion.py ../shared/data/scifact --split train [--data-dir DIR]

The index is the one `ragkit eval` builds (eval-NAME), built here if missing.
Tune on train, report on another split: tuning on the split you report overfits.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from pathlib import Path

from ragkit import Ragkit
from ragkit.evaluation import doc_id_of, load_beir, ndcg_at, prepare_index, recall_at
from ragkit.retrieval.retriever import Hit, RetrievalOptions, drop_near_duplicates, fuse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--split", default="train")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--depth", type=int, default=200, help="Rankings fetched per retriever.")
    args = parser.parse_args()

    dataset = load_beir(args.dataset, args.split)
    kit = Ragkit(index=f"eval-{dataset.name}", data_dir=args.data_dir, offline=True, rerank="off")
    prepare_index(kit, dataset.corpus(), lambda _: None)
    queries = list(dataset.queries.items())
    rankings: list[tuple[list[Hit], list[Hit]]] = []
    for _, text in queries:
        dense = kit.retriever.search(text, args.depth, options=RetrievalOptions(mode="dense", depth=args.depth))
        bm25 = kit.retriever.search(text, args.depth, options=RetrievalOptions(mode="bm25", depth=args.depth))
        rankings.append((dense, bm25))
    qrels = [dataset.qrels[qid] for qid, _ in queries]

    def score(hits_per_query: list[list[Hit]]) -> tuple[float, float]:
        ndcg = statistics.fmean(
            ndcg_at(list(dict.fromkeys(doc_id_of(str(h.meta["path"])) for h in hits)), q, 10)
            for hits, q in zip(hits_per_query, qrels)
        )
        recall = statistics.fmean(
            recall_at(list(dict.fromkeys(doc_id_of(str(h.meta["path"])) for h in hits)), q, 100)
            for hits, q in zip(hits_per_query, qrels)
        )
        return round(ndcg, 4), round(recall, 4)

    print(f"{len(queries)} queries, {dataset.name} {args.split}")
    print("dense", score([d for d, _ in rankings]), "bm25", score([b for _, b in rankings]), flush=True)
    results = []
    for rrf_k, bm25_weight, depth, dedupe in itertools.product(
        (10, 20, 40, 60, 100), (0.7, 1.0, 1.3, 1.6, 2.0), (20, 40, 80, 150), (False,)
    ):
        fused = []
        for dense, bm25 in rankings:
            hits = fuse(dense[:depth], bm25[:depth], 1.0, bm25_weight, rrf_k)
            fused.append(drop_near_duplicates(hits, limit=150) if dedupe else hits)
        results.append((score(fused), rrf_k, bm25_weight, depth, dedupe))
    results.sort(reverse=True)
    for (ndcg, recall), rrf_k, weight, depth, _ in results[:15]:
        print(f"nDCG@10 {ndcg:.4f} recall@100 {recall:.4f}  rrf_k={rrf_k} bm25_weight={weight} depth={depth}")
    default = next(r for r in results if r[1:] == (60, 1.0, 40, False))
    print("default (rrf_k=60, weights 1/1, depth 40):", default[0])


if __name__ == "__main__":
    main()
