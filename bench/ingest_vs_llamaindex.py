"""Ingest speed and memory, measured in one run on the same folder and the
same embedding model (all-MiniLM-L6-v2 on CPU):

  raw      SentenceTransformer.encode (fp32) of ragkit's chunk texts: the compute floor
  ragkit   `Ragkit.ingest` end to end (walk, parse, chunk, embed, store), int8 embedder (default)
  ragkit   the same with embed_quantize="none" (fp32), to separate quantization from the rest
  llama    LlamaIndex: SimpleDirectoryReader + SentenceSplitter(chunk_size=192) +
           HuggingFaceEmbedding + ChromaVectorStore, its defaults otherwise
  again    ragkit re-ingest of the unchanged folder, and after appending to one file
  memory   peak RSS of ragkit ingesting the folder and a folder 4x as large

Each ingest runs in a fresh subprocess (peak RSS per run); times are of the
ingest call (model loading included, imports not). Needs the bench
environment (bash bench/setup_llamaindex.sh):

  .venv-bench/bin/python bench/ingest_vs_llamaindex.py ../shared/data/fastapi_docs
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across fork and exec.
PEAK_RSS = """
def peak_rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""

RAGKIT_RUN = (
    PEAK_RSS
    + """
import json, sys, time
import chromadb, sentence_transformers  # imported before the clock starts, as on the LlamaIndex side
from ragkit import Ragkit
folder, data_dir, quantize = sys.argv[1:4]
kit = Ragkit(index="bench", data_dir=data_dir, offline=True, embed_quantize=quantize)
started = time.perf_counter()
report = kit.ingest([folder])
seconds = time.perf_counter() - started
print(json.dumps({"seconds": seconds, "chunks": report.chunks_total, "embedded": report.chunks_embedded,
                  "files": report.files_scanned, "peak_rss_mb": peak_rss_mb()}))
"""
)

LLAMA_RUN = (
    PEAK_RSS
    + """
import json, sys, time
folder, data_dir, model_dir = sys.argv[1:4]
import chromadb
from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
from llama_index.core.node_parser import SentenceSplitter
from llama_index.embeddings.huggingface import HuggingFaceEmbedding
from llama_index.vector_stores.chroma import ChromaVectorStore
from tokenizers import Tokenizer
started = time.perf_counter()
docs = SimpleDirectoryReader(folder, recursive=True, required_exts=[".md"]).load_data()
client = chromadb.PersistentClient(path=data_dir)
store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("llama"))
embed = HuggingFaceEmbedding(model_name=model_dir, device="cpu")
splitter = SentenceSplitter(chunk_size=192, chunk_overlap=0)
index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store),
                                        embed_model=embed, transformations=[splitter])
seconds = time.perf_counter() - started
nodes = list(index.docstore.docs.values()) or None
texts = [n.get_content(metadata_mode="embed") for n in splitter.get_nodes_from_documents(docs)]
tok = Tokenizer.from_file(model_dir + "/tokenizer.json"); tok.no_truncation()
lengths = [len(e.ids) for e in tok.encode_batch(texts)]
print(json.dumps({"seconds": seconds, "chunks": len(texts), "truncated": sum(n > 256 for n in lengths),
                  "tokens": sum(min(n, 256) for n in lengths),
                  "peak_rss_mb": peak_rss_mb()}))
"""
)


def run(code: str, *args: str) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def raw_encode(folder: Path) -> dict[str, float]:
    from sentence_transformers import SentenceTransformer

    from ragkit import Ragkit
    from ragkit.indexers import load_document, walk
    from ragkit.indexers.chunking import Chunker

    kit = Ragkit(index="raw", offline=True, embed_quantize="none")
    embedder = kit.embedder
    chunker = Chunker(embedder.counter, min(kit.settings.chunk_tokens, embedder.max_tokens))
    texts = [c.embed_text for f in walk([folder]) for c in chunker.chunk(load_document(f.path, f.path.read_bytes()))]
    model = SentenceTransformer(str(embedder.model_dir), device="cpu")  # type: ignore[attr-defined]
    model.encode(["warm up"])
    started = time.perf_counter()
    model.encode(texts, batch_size=64, normalize_embeddings=True, show_progress_bar=False)
    return {"seconds": time.perf_counter() - started, "chunks": len(texts),
            "tokens": sum(embedder.counter.count(texts)), "model_dir": str(embedder.model_dir)}  # type: ignore[attr-defined,dict-item]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--skip-llamaindex", action="store_true")
    args = parser.parse_args()
    folder = args.folder.resolve()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "docs"
        shutil.copytree(folder, work)  # a copy: the one-file edit below must not touch the shared data
        results["raw_fp32_encode"] = raw_encode(work)
        print("raw", results["raw_fp32_encode"], flush=True)
        results["ragkit_int8"] = run(RAGKIT_RUN, str(work), f"{tmp}/rk-int8", "int8")
        print("ragkit int8", results["ragkit_int8"], flush=True)
        results["ragkit_fp32"] = run(RAGKIT_RUN, str(work), f"{tmp}/rk-fp32", "none")
        print("ragkit fp32", results["ragkit_fp32"], flush=True)
        if not args.skip_llamaindex:
            model_dir = str(results["raw_fp32_encode"]["model_dir"])
            results["llamaindex"] = run(LLAMA_RUN, str(work), f"{tmp}/llama", model_dir)
            print("llamaindex", results["llamaindex"], flush=True)
        results["reingest_unchanged"] = run(RAGKIT_RUN, str(work), f"{tmp}/rk-int8", "int8")
        edited = sorted(work.rglob("*.md"))[len(list(work.rglob("*.md"))) // 2]
        with edited.open("a") as fh:
            fh.write("\n\n## Added section\n\nA paragraph appended to measure a one-file change.\n")
        results["reingest_one_file_edited"] = run(RAGKIT_RUN, str(work), f"{tmp}/rk-int8", "int8")
        big = Path(tmp) / "big"
        for i in range(4):
            shutil.copytree(work, big / f"copy{i}")
        results["ragkit_int8_4x_folder"] = run(RAGKIT_RUN, str(big), f"{tmp}/rk-big", "int8")
    raw, rk, rk32 = results["raw_fp32_encode"], results["ragkit_int8"], results["ragkit_fp32"]
    summary = {
        "chunks": rk["chunks"],
        "tokens": raw["tokens"],
        "ragkit_int8_vs_raw_fp32_throughput": round(raw["seconds"] / rk["seconds"], 2),
        "ragkit_fp32_vs_raw_fp32_throughput": round(raw["seconds"] / rk32["seconds"], 2),
        "reingest_unchanged_speedup": round(rk["seconds"] / results["reingest_unchanged"]["seconds"], 1),
        "one_file_edit_chunks_embedded": results["reingest_one_file_edited"]["embedded"],
        "peak_rss_mb_1x_vs_4x": [round(rk["peak_rss_mb"]), round(results["ragkit_int8_4x_folder"]["peak_rss_mb"])],
    }
    if "llamaindex" in results:
        li = results["llamaindex"]
        summary["llamaindex_chunks"] = li["chunks"]
        summary["llamaindex_chunks_truncated_at_256"] = li["truncated"]
        summary["ragkit_int8_speedup_vs_llamaindex"] = round(li["seconds"] / rk["seconds"], 2)
        summary["ragkit_fp32_speedup_vs_llamaindex"] = round(li["seconds"] / rk32["seconds"], 2)
    print(json.dumps({"runs": results, "summary": summary}, indent=2, default=str))


if __name__ == "__main__":
    main()
