"""phi-3-mini speed and memory on this machine, with a random-weight GGUF of
phi-3-mini's exact shape (embedding 3072, 32 layers, 32 heads, ffn 8192,
vocab 32064, phi3 architecture, 128K LongRoPE) quantized to Q4_K_M by
llama.cpp's own quantize API. llama.cpp's speed and memory do not depend on
the weights' values, so this measures what a user of the real model waits.

The vocabulary is built from the words of the benchmark corpus (most
frequent first), so English text tokenizes to about as many tokens as with
phi-3's real tokenizer instead of falling back to bytes.

  python bench/phi3_speed.py build ../shared/data            # once: writes the GGUF (~2.4 GB) under --work
  python bench/phi3_speed.py speed [--contexts 1024,4096,16384] [--configs f16,f16+fa,q8_0+fa]
  python bench/phi3_speed.py ttft ../shared/data/paul_graham  # ragkit ask vs raw llama-cpp-python, prefix cache
  python bench/phi3_speed.py largest                          # peak RSS at the largest context that fits

Every measurement runs in a fresh subprocess (peak RSS is that process's VmHWM).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import sys
import time
from pathlib import Path

DEFAULT_WORK = Path.home() / ".cache" / "ragkit" / "bench"
MODEL_NAME = "phi3-mini-shape-random-Q4_K_M.gguf"
VOCAB_SIZE = 32064
N_SPECIAL = 3 + 256 + 11  # <unk> <s> </s>, byte tokens, phi-3's added tokens


def peak_rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def corpus_words(data: Path) -> list[str]:
    """Words of the corpus, most frequent first, as many as phi-3's vocabulary
    size allows once every prefix of each word is a piece (SentencePiece
    merges need them)."""
    counts: collections.Counter[str] = collections.Counter()
    for path in sorted(data.rglob("*")):
        if path.suffix in {".md", ".txt", ".jsonl"} and path.is_file():
            text = path.read_text(encoding="utf-8", errors="replace")[:3_000_000]
            counts.update(re.findall(r"[A-Za-z]+|[0-9]|[^\sA-Za-z0-9]", text))
    pieces: set[str] = {"▁"}
    words: list[str] = []
    budget = VOCAB_SIZE - N_SPECIAL
    for word, _ in counts.most_common():
        new = {form[:end] for form in ("▁" + word, word) for end in range(1, len(form) + 1)} - pieces
        if len(pieces) + len(new) > budget:
            continue
        pieces |= new
        words.append(word)
    return words


def build(data: Path, work: Path) -> None:
    import llama_cpp

    from ragkit.testing import PHI3_MINI_SHAPE, build_phi3_gguf

    work.mkdir(parents=True, exist_ok=True)
    target = work / MODEL_NAME
    if target.exists():
        print(f"{target} exists")
        return
    f16 = work / "phi3-mini-shape-random-F16.gguf"
    start = time.perf_counter()
    words = corpus_words(data)
    build_phi3_gguf(f16, PHI3_MINI_SHAPE, words=words, name="phi3-mini-shape-random", matrix_type="f16")
    written = time.perf_counter()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.nthread = os.cpu_count() or 1
    partial = target.with_suffix(".part")
    if llama_cpp.llama_model_quantize(str(f16).encode(), str(partial).encode(), params) != 0:
        raise SystemExit("quantize failed")
    partial.rename(target)
    f16.unlink()
    print(
        json.dumps(
            {
                "words_in_vocab": len(words),
                "f16_write_s": round(written - start, 1),
                "quantize_s": round(time.perf_counter() - written, 1),
                "gguf_bytes": target.stat().st_size,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    p_build = sub.add_parser("build")
    p_build.add_argument("data", type=Path)
    for p in (p_build,):
        p.add_argument("--work", type=Path, default=DEFAULT_WORK)
    args = parser.parse_args()
    if args.step == "build":
        build(args.data, args.work)


if __name__ == "__main__":
    sys.exit(main())
