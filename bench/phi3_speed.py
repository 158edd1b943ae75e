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
  python bench/phi3_speed.py memory [--prompt 520]            # levers on the default answer's peak RSS

Every measurement runs in a fresh subprocess (peak RSS is that process's VmHWM).
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import subprocess
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


KV_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}
CONFIGS = {"f16": ("f16", False), "f16+fa": ("f16", True), "q8_0+fa": ("q8_0", True), "q4_0+fa": ("q4_0", True)}


def measure_speed(model: Path, n_prompt: int, config: str, n_gen: int, threads: int) -> dict[str, object]:
    """Prefill `n_prompt` tokens, then decode `n_gen` more one at a time (at that depth)."""
    import random

    import llama_cpp

    kv, flash = CONFIGS[config]
    load_start = time.perf_counter()
    llama = llama_cpp.Llama(
        model_path=str(model),
        n_ctx=n_prompt + n_gen + 64,
        n_batch=512,
        n_threads=threads,
        n_threads_batch=threads,
        flash_attn=flash,
        type_k=KV_TYPES[kv],
        type_v=KV_TYPES[kv],
        use_mmap=False,  # as ragkit loads it
        verbose=False,
    )
    loaded = time.perf_counter()
    rng = random.Random(0)
    tokens = [rng.randrange(259, 32000) for _ in range(n_prompt + n_gen)]
    llama.eval(tokens[:n_prompt])
    prefilled = time.perf_counter()
    for token in tokens[n_prompt:]:
        llama.eval([token])
    done = time.perf_counter()
    return {
        "config": config,
        "context": n_prompt,
        "prefill_tok_s": round(n_prompt / (prefilled - loaded), 2),
        "gen_tok_s": round(n_gen / (done - prefilled), 2),
        "load_s": round(loaded - load_start, 2),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def measure_largest(model: Path, threads: int) -> dict[str, object]:
    """Allocate the largest context ragkit would allow here (its own plan) and
    evaluate a short prompt; llama.cpp clears the whole KV buffer when it
    creates the context, so the pages are resident and VmHWM counts them."""
    from ragkit.answering.llm import LlamaCppLLM
    from ragkit.answering.memory import available_memory_bytes, largest_context

    llm = LlamaCppLLM(model, threads=threads)
    free = available_memory_bytes() or 0
    weights = model.stat().st_size
    rows: dict[str, object] = {"available_mb": round(free / 1024**2)}
    for kv in ("f16", "q8_0", "q4_0"):
        rows[f"largest_{kv}"] = largest_context(llm.shape, weights, free, kv)
    n_ctx = int(rows["largest_q8_0"])  # type: ignore[call-overload]
    plan = llm.plan(n_ctx)
    start = time.perf_counter()
    text = "".join(
        llm.stream("<|user|>\nhello<|end|>\n<|assistant|>\n", n_ctx=n_ctx, max_tokens=4, temperature=0, stop=[])
    )
    rows.update(
        {
            "n_ctx": n_ctx,
            "kv_type": plan.kv_type,
            "flash_attn": plan.flash_attn,
            "kv_gib": round(plan.kv_bytes / 1024**3, 2),
            "seconds": round(time.perf_counter() - start, 1),
            "generated": len(text),
            "peak_rss_mb": round(peak_rss_mb()),
        }
    )
    return rows


QUESTION = "What did the author work on before college?"


def measure_ttft(model: Path, data_dir: Path, mode: str, threads: int) -> dict[str, object]:
    """Time to first token of one question, in this fresh process.

    ragkit-*: `Ragkit.ask_stream` from the call to the first token (retrieval,
    prompt building, model load, prefill), with the embedder loaded
    beforehand as in any app or chat session; `raw`: llama-cpp-python
    loading the model and completing the identical prompt with identical
    context settings (read from the ragkit run's record)."""
    import llama_cpp

    from ragkit import Ragkit

    record = data_dir / "ttft_prompt.json"
    if mode == "raw":
        saved = json.loads(record.read_text())
        start = time.perf_counter()
        llama = llama_cpp.Llama(
            model_path=str(model),
            n_ctx=saved["n_ctx"],
            n_batch=min(512, saved["n_ctx"]),
            n_threads=threads,
            n_threads_batch=threads,
            flash_attn=saved["flash_attn"],
            type_k=KV_TYPES[saved["kv_type"]],
            type_v=KV_TYPES[saved["kv_type"]],
            use_mmap=False,  # as ragkit loads it
            verbose=False,
        )
        loaded = time.perf_counter()
        parts = llama.create_completion(saved["prompt"], max_tokens=8, temperature=0.0, stream=True)
        next(iter(parts))
        first = time.perf_counter()
        return {"mode": mode, "ttft_s": round(first - start, 2), "load_s": round(loaded - start, 2)}

    kit = Ragkit(
        index="pg", data_dir=data_dir, offline=True, model=str(model), threads=threads,
        prefix_cache=mode != "ragkit-nocache", max_tokens=256, rerank="off", min_score=0.0,
    )  # fmt: skip
    kit.search("warm up the embedder")  # loaded once per process, as in an app or chat session
    start = time.perf_counter()
    stream = kit.ask_stream(QUESTION)
    prepared = time.perf_counter()
    next(iter(stream))
    first = time.perf_counter()
    llm = kit.llm()
    plan = llm.loaded_plan  # type: ignore[attr-defined]
    prompt_tokens = llm.count_tokens(stream.prompt)
    if mode == "ragkit-nocache":
        record.write_text(
            json.dumps(
                {"prompt": stream.prompt, "n_ctx": plan.n_ctx, "kv_type": plan.kv_type, "flash_attn": plan.flash_attn}
            )
        )
    return {
        "mode": mode,
        "ttft_s": round(first - start, 2),
        "until_generation_call_s": round(prepared - start, 2),
        "prompt_tokens": prompt_tokens,
        "n_ctx": plan.n_ctx,
        "prefix_tokens_restored": llm.last_prefix_restored,  # type: ignore[attr-defined]
    }


# Levers on the peak RSS of a default answer: (n_ctx, K type, V type, flash attention, n_ubatch, embedder).
MEMORY_LEVERS = {
    "before: 4096 f16, torch embedder": (4096, "f16", "f16", False, 512, "torch"),
    "4096 f16, ONNX embedder": (4096, "f16", "f16", False, 512, "onnx"),
    "2560 f16 (preload ceiling), ONNX": (2560, "f16", "f16", False, 512, "onnx"),
    "1536 f16 (sized to the pruned prompt), ONNX": (1536, "f16", "f16", False, 512, "onnx"),
    "2560 K q8_0 V f16 no FA, ONNX": (2560, "q8_0", "f16", False, 512, "onnx"),
    "2560 f16 n_ubatch 256, ONNX": (2560, "f16", "f16", False, 256, "onnx"),
    "4096 K q8_0 V f16 no FA n_ubatch 256, torch": (4096, "q8_0", "f16", False, 256, "torch"),
}


def measure_memory(model: Path, lever: str, n_prompt: int, threads: int) -> dict[str, object]:
    """Peak RSS and prefill speed of one answer's llama.cpp context beside a loaded embedder."""
    import random

    import llama_cpp

    n_ctx, k_type, v_type, flash, n_ubatch, embedder = MEMORY_LEVERS[lever]
    from ragkit import Ragkit

    onnx = embedder == "onnx"
    kit = Ragkit(offline=True, data_dir=model.parent / "memory-data", embed_runtime="onnx" if onnx else "torch",
                 query_embedder="auto" if onnx else "torch")  # fmt: skip
    kit.query_embedder.embed(["warm up the embedder, as an ask has"])
    llama = llama_cpp.Llama(
        model_path=str(model), n_ctx=n_ctx, n_batch=min(512, n_ctx), n_ubatch=n_ubatch, n_threads=threads,
        n_threads_batch=threads, flash_attn=flash, type_k=KV_TYPES[k_type], type_v=KV_TYPES[v_type],
        use_mmap=False, verbose=False,
    )  # fmt: skip
    rng = random.Random(0)
    started = time.perf_counter()
    llama.eval([rng.randrange(259, 32000) for _ in range(n_prompt)])
    prefill = n_prompt / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(16):
        llama.eval([rng.randrange(259, 32000)])
    return {
        "lever": lever,
        "embedder": type(kit.query_embedder).__name__,
        "peak_rss_gb": round(peak_rss_mb() / 1024, 2),
        "prefill_tok_s": round(prefill, 1),
        "gen_tok_s": round(16 / (time.perf_counter() - started), 2),
    }


def run_child(args: list[str]) -> dict[str, object]:
    """One measurement in a fresh process (clean memory, its own VmHWM)."""
    result = subprocess.run([sys.executable, __file__, "child", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return {"args": args, "error": result.stderr.strip().splitlines()[-1:]}
    row: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="step", required=True)
    p_build = sub.add_parser("build")
    p_build.add_argument("data", type=Path)
    p_speed = sub.add_parser("speed")
    p_speed.add_argument("--contexts", default="1024,4096,16384")
    p_speed.add_argument("--configs", default="f16,f16+fa,q8_0+fa")
    p_speed.add_argument("--gen", type=int, default=32)
    p_ttft = sub.add_parser("ttft")
    p_ttft.add_argument("paul_graham", type=Path)
    p_largest = sub.add_parser("largest")
    p_memory = sub.add_parser("memory")
    p_memory.add_argument("--prompt", type=int, default=520, help="prompt tokens evaluated (a pruned prompt)")
    p_memory.add_argument("--rounds", type=int, default=2)
    p_child = sub.add_parser("child")
    p_child.add_argument("what")
    p_child.add_argument("params", nargs="*")
    for p in (p_build, p_speed, p_ttft, p_largest, p_memory, p_child):
        p.add_argument("--work", type=Path, default=DEFAULT_WORK)
        p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    model = args.work / MODEL_NAME
    if args.step == "build":
        build(args.data, args.work)
    elif args.step == "speed":
        for n_ctx in [int(c) for c in args.contexts.split(",")]:
            for config in args.configs.split(","):
                run_child(
                    ["speed", str(n_ctx), config, str(args.gen), f"--work={args.work}", f"--threads={args.threads}"]
                )
    elif args.step == "largest":
        run_child(["largest", f"--work={args.work}", f"--threads={args.threads}"])
    elif args.step == "memory":
        from ragkit import Ragkit

        # The ONNX copy is made here once, so no child imports torch to make it.
        Ragkit(offline=True, data_dir=args.work / "memory-data", embed_runtime="onnx").embedder  # noqa: B018
        for _ in range(args.rounds):  # rounds interleave the levers, so a slower moment hits all of them
            for lever in MEMORY_LEVERS:
                run_child(["memory", lever, str(args.prompt), f"--work={args.work}", f"--threads={args.threads}"])
    elif args.step == "ttft":
        import tempfile

        from ragkit import Ragkit

        data_dir = Path(tempfile.mkdtemp(prefix="ragkit-ttft-"))
        Ragkit(index="pg", data_dir=data_dir, offline=True).ingest([args.paul_graham / "paul_graham_essay.txt"])
        common = [str(data_dir), f"--work={args.work}", f"--threads={args.threads}"]
        # nocache first: it records the prompt and context that raw then replays.
        modes = ["ragkit-nocache", "raw", "ragkit-cold", "ragkit-cached"]
        modes += ["raw", "ragkit-nocache", "ragkit-cached"] * 2
        for mode in modes:
            run_child(["ttft", mode, *common])
    elif args.step == "child":
        if args.what == "speed":
            n_ctx, config, n_gen = args.params
            row = measure_speed(model, int(n_ctx), config, int(n_gen), args.threads)
        elif args.what == "largest":
            row = measure_largest(model, args.threads)
        elif args.what == "memory":
            lever, n_prompt = args.params
            row = measure_memory(model, lever, int(n_prompt), args.threads)
        else:
            mode, data_dir = args.params
            row = measure_ttft(model, Path(data_dir), mode, args.threads)
        print(json.dumps(row))


if __name__ == "__main__":
    sys.exit(main())
