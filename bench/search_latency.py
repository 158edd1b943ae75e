"""Warm query latency of `Ragkit.search` (the library call: query embedding,
Chroma HNSW, FTS5 BM25, fusion, dedupe) as the index grows to 100K chunks.

Embedding 100K chunks would take half an hour here, so the index is
synthetic but shaped like real data: chunk texts are made of real SciFact
abstract sentences (two abstracts' sentences interleaved, so the BM25 term
statistics are natural), and each vector is the real embedding of the
abstract it mostly came from plus noise, normalised (so HNSW sees clusters
like a real corpus, not uniform noise). Chunks are written through the same
storage path ingest uses (Chroma upsert, manifest commit with the keyword
index), 10 chunks per synthetic file.

  python bench/search_latency.py ../shared/data/scifact [--sizes 10000,25000,50000,100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from ragkit import Ragkit
from ragkit.ingest import chunk_id, text_hash
from ragkit.ingest.manifest import ChunkRow, Manifest


def sentences_of(corpus: Path, limit: int) -> list[tuple[str, list[str]]]:
    docs = []
    with open(corpus / "corpus.jsonl", encoding="utf-8") as fh:
        for line in fh:
            doc = json.loads(line)
            parts = [s.strip() for s in re.split(r"(?<=[.!?])\s*", doc["text"]) if len(s.strip()) > 20]
            if parts:
                docs.append((doc["title"], parts))
            if len(docs) >= limit:
                break
    return docs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scifact", type=Path)
    parser.add_argument("--sizes", default="10000,25000,50000,100000")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = random.Random(7)
    noise = np.random.default_rng(7)

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="ragkit-latency-"))
    kit = Ragkit(index="latency", data_dir=data_dir, offline=True, rerank="off")
    docs = sentences_of(args.scifact, 5000)
    print(f"embedding {len(docs)} base abstracts (once)...", flush=True)
    base_vectors = kit.embedder.embed([f"{t}\n{' '.join(s)}" for t, s in docs])
    lines = (args.scifact / "queries.jsonl").read_text(encoding="utf-8").splitlines()
    queries = [json.loads(line)["text"] for line in lines if line.strip()]
    queries = queries[: args.queries]

    store = kit._open_store(create=True)
    manifest = Manifest(kit.index_dir / "manifest.sqlite3")
    written = 0
    file_number = 0
    report = []
    for size in sizes:
        started = time.perf_counter()
        while written < size:
            rows: list[ChunkRow] = []
            vectors = []
            path = f"/synthetic/doc{file_number:06d}.md"
            for i in range(10):
                a, b = rng.randrange(len(docs)), rng.randrange(len(docs))
                title, main = docs[a]
                mixed = main[: max(1, len(main) * 2 // 3)] + docs[b][1][: max(1, len(docs[b][1]) // 3)]
                text = " ".join(mixed)
                embed_text = f"{title}\n{text}"
                cid = chunk_id(path, embed_text)
                meta = {
                    "path": path,
                    "kind": "markdown",
                    "chunk": i,
                    "headings": title,
                    "text_hash": text_hash(embed_text),
                }
                rows.append(ChunkRow(cid, text, embed_text, meta))
                vector = base_vectors[a] + noise.normal(0, 0.02, base_vectors.shape[1]).astype(np.float32)
                vectors.append(vector / np.linalg.norm(vector))
            store.upsert([r.id for r in rows], np.asarray(vectors), [r.text for r in rows], [r.meta for r in rows])
            with manifest.transaction():
                manifest.commit_file(
                    path, size=1, mtime_ns=1, sha256=path, signature="synthetic", kind="markdown", chunks=rows
                )
            written += len(rows)
            file_number += 1
        build_s = time.perf_counter() - started
        kit.search(queries[0])  # warm: model, Chroma segment and SQLite pages loaded
        row = {"chunks": written, "build_s": round(build_s, 1)}
        for mode in ("hybrid", "dense", "bm25"):
            times = []
            for q in queries:
                t = time.perf_counter()
                kit.search(q, k=5, mode=mode)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            row[f"{mode}_p50_ms"] = round(statistics.median(times), 1)
            row[f"{mode}_p95_ms"] = round(times[int(0.95 * len(times)) - 1], 1)
        t = time.perf_counter()
        for q in queries:
            kit.embedder.embed([q])
        row["query_embedding_ms"] = round((time.perf_counter() - t) * 1000 / len(queries), 1)
        report.append(row)
        print(json.dumps(row), flush=True)
    manifest.close()
    print(json.dumps({"index": str(kit.index_dir), "rows": report}, indent=2))


if __name__ == "__main__":
    main()
