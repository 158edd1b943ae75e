"""What int8 dynamic quantization of the embedder buys and costs.

Speed: embeds the same texts with the fp32 and the int8 torch model and the
int8 ONNX copy (the default `embed_runtime`) in one run (ratios, not
absolute time). Quality: dense retrieval nDCG@10 and recall@10 on a BEIR
dataset (SciFact train queries) with each, documents and queries embedded
by the same one.

    python bench/embed_quantization.py ../shared/data/scifact [--docs N]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from ragkit.config import Settings
from ragkit.embedders import OnnxEmbedder, SentenceTransformerEmbedder, export_onnx_int8


def load_beir(folder: Path) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    corpus = {}
    for line in (folder / "corpus.jsonl").open():
        row = json.loads(line)
        corpus[row["_id"]] = f"{row.get('title', '')}\n{row['text']}".strip()
    queries = {json.loads(line)["_id"]: json.loads(line)["text"] for line in (folder / "queries.jsonl").open()}
    qrels: dict[str, dict[str, int]] = {}
    for path in sorted((folder / "qrels").glob("*.tsv")):
        for n, line in enumerate(path.open()):
            parts = line.rstrip("\n").split("\t")
            if n == 0 and not parts[-1].isdigit():
                continue
            qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    return corpus, {q: t for q, t in queries.items() if q in qrels}, qrels


def ndcg_recall(ranked: list[str], relevant: dict[str, int], k: int = 10) -> tuple[float, float]:
    dcg = sum(relevant.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    recall = len(set(ranked[:k]) & set(relevant)) / len(relevant)
    return (dcg / idcg if idcg else 0.0), recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path)
    parser.add_argument("--docs", type=int, default=0, help="Only the first N corpus documents (0: all).")
    args = parser.parse_args()
    corpus, queries, qrels = load_beir(args.dataset)
    ids = list(corpus)[: args.docs or None]
    docs = [corpus[i] for i in ids]
    kept = set(ids)
    qids = [q for q in queries if set(qrels[q]) & kept]
    model_name = Settings.load(config_files=(), env={}).embed_model
    results = {}
    onnx_dir = Path(tempfile.mkdtemp(prefix="ragkit-onnx-"))
    for quantize in ("none", "int8", "onnx-int8"):
        embedder: SentenceTransformerEmbedder | OnnxEmbedder
        embedder = SentenceTransformerEmbedder(model_name, quantize=quantize.removeprefix("onnx-"))
        if quantize == "onnx-int8":
            path = export_onnx_int8(embedder, onnx_dir)
            assert path is not None
            embedder = OnnxEmbedder(path, embedder.model_dir, embedder.model_id, embedder.max_tokens, runtime=quantize)
        embedder.embed(["warm up"])
        started = time.perf_counter()
        doc_vectors = embedder.embed(docs)
        seconds = time.perf_counter() - started
        query_vectors = embedder.embed([queries[q] for q in qids])
        scores = query_vectors @ doc_vectors.T
        ndcgs, recalls = [], []
        for row, q in zip(scores, qids):
            top = [ids[i] for i in np.argsort(-row)[:10]]
            n, r = ndcg_recall(top, qrels[q])
            ndcgs.append(n)
            recalls.append(r)
        results[quantize] = (seconds, float(np.mean(ndcgs)), float(np.mean(recalls)), doc_vectors)
        print(f"{quantize:>9}: embed {len(docs)} docs {seconds:7.1f} s  nDCG@10 {np.mean(ndcgs):.4f}  "
              f"recall@10 {np.mean(recalls):.4f}  ({len(qids)} queries)", flush=True)  # fmt: skip
    fp32 = results["none"]
    for name in ("int8", "onnx-int8"):
        other = results[name]
        cosine = float(np.mean(np.sum(fp32[3] * other[3], axis=1)))
        print(
            f"{name} speed-up x{fp32[0] / other[0]:.2f}; nDCG@10 change {other[1] - fp32[1]:+.4f}; "
            f"recall@10 change {other[2] - fp32[2]:+.4f}; mean cosine(fp32, {name}) of doc vectors {cosine:.4f}"
        )


if __name__ == "__main__":
    main()
