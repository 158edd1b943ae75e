"""Ingest throughput of a folder, as ratios measured in one run:

ragkit ingest (walk, chunk, embed, store)  vs  raw SentenceTransformer.encode
of the very same chunk texts, and re-ingest of the unchanged folder vs the
first ingest.

  python bench/ingest_throughput.py ../shared/data/fastapi_docs
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from ragkit import Ragkit
from ragkit.indexers import load_document, walk
from ragkit.indexers.chunking import Chunker


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as data_dir:
        kit = Ragkit(index="bench", data_dir=data_dir, offline=True)
        embedder = kit.embedder
        embedder.embed(["warm up"])  # both sides start with the model loaded

        started = time.perf_counter()
        first = kit.ingest([args.folder])
        ingest_s = time.perf_counter() - started

        started = time.perf_counter()
        again = kit.ingest([args.folder])
        reingest_s = time.perf_counter() - started

        chunker = Chunker(embedder.counter, min(kit.settings.chunk_tokens, embedder.max_tokens))
        texts = [
            c.embed_text for f in walk([args.folder]) for c in chunker.chunk(load_document(f.path, f.path.read_bytes()))
        ]
        model = embedder._model  # type: ignore[attr-defined]
        started = time.perf_counter()
        model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
        raw_s = time.perf_counter() - started

    tokens = sum(embedder.counter.count(texts))
    result = {
        "files": first.files_scanned,
        "chunks": first.chunks_total,
        "chunks_embedded": first.chunks_embedded,
        "tokens": tokens,
        "ragkit_ingest_s": round(ingest_s, 2),
        "ragkit_chunks_per_s": round(first.chunks_total / ingest_s, 1),
        "raw_encode_s": round(raw_s, 2),
        "raw_chunks_per_s": round(len(texts) / raw_s, 1),
        "ragkit_vs_raw_throughput": round(raw_s / ingest_s, 3),
        "reingest_s": round(reingest_s, 4),
        "reingest_speedup": round(ingest_s / reingest_s, 1),
        "reingest_embedded": again.chunks_embedded,
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
