"""A cold `ragkit ask` against the floor: a raw llama-cpp-python script that
only loads the same model and evaluates the same prompt.

    python bench/cold_ask.py MODEL.gguf ../shared/data/paul_graham [--runs 3]

Both run as fresh processes, timed from process start to the first token
(`--max-tokens 1`, so the process ends right after it; interpreter start,
imports and exit included on both sides). ragkit's side is the real CLI:
imports, embedder load, retrieval, pruning, the model loaded on a background
thread meanwhile, and the prompt's fixed prefix restored from the prefix
cache when it was saved before (`cached prefix`) or not (`--no prefix cache`
runs use a fresh cache folder). The raw script gets ragkit's exact prompt
and context size. MODEL is e.g. the phi-3-mini-shaped Q4_K_M from
`bench/phi3_speed.py build`.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAGKIT = str(Path(sys.executable).with_name("ragkit"))
QUESTION = "What did the author do at Interleaf, and what did he learn there?"

RAW = r"""
import json, sys
import llama_cpp
saved = json.load(open(sys.argv[1]))
llama = llama_cpp.Llama(model_path=saved["model"], n_ctx=saved["n_ctx"], n_batch=min(512, saved["n_ctx"]),
                        n_threads=saved["threads"], n_threads_batch=saved["threads"], use_mmap=False, verbose=False)
for _ in llama.create_completion(saved["prompt"], max_tokens=1, temperature=0.0, stream=True):
    break
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed: {result.stderr.strip()[-500:]}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("paul_graham", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ragkit-cold-ask-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGKIT_DATA_DIR": str(work), "RAGKIT_THREADS": str(args.threads)}
    subprocess.run([RAGKIT, "ingest", str(args.paul_graham / "paul_graham_essay.txt")], env=env, check=True)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from ragkit import Ragkit
    from ragkit.answering.llm import choose_n_ctx

    kit = Ragkit(data_dir=work, model=str(args.model), offline=True, threads=args.threads)
    plan = kit.plan_prompt(QUESTION)
    assert plan.prompt is not None
    s = kit.settings
    n_ctx = choose_n_ctx(plan.prompt.tokens, s.max_tokens, min(s.ctx, kit.llm().n_ctx_train))
    saved = work / "raw.json"
    saved.write_text(
        json.dumps({"model": str(args.model), "prompt": plan.prompt.text, "n_ctx": n_ctx, "threads": args.threads})
    )
    kit.close()
    print(f"prompt {plan.prompt.tokens} tokens ({plan.prompt.context_tokens} of passages), n_ctx {n_ctx}", flush=True)

    ask = [RAGKIT, "ask", QUESTION, "--model", str(args.model), "--max-tokens", "1", "--no-cache", "--json"]
    results: dict[str, list[float]] = {"raw": [], "ragkit, cached prefix": [], "ragkit, no prefix cache": []}
    for _ in range(args.runs):
        results["raw"].append(timed([sys.executable, "-c", RAW, str(saved)], env))
        results["ragkit, cached prefix"].append(timed(ask, env))
        fresh = {**env, "RAGKIT_PREFIX_CACHE": "false"}
        results["ragkit, no prefix cache"].append(timed(ask, fresh))
        print(json.dumps({name: round(values[-1], 2) for name, values in results.items()}), flush=True)
    # The largest child's peak RSS: ragkit's ask (embedder + LLM) outweighs the raw script (LLM only).
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024**2
    print(f"peak RSS of the largest run (a default ragkit ask): {peak_gb:.2f} GB")
    raw = statistics.median(results["raw"])
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name}: median {median:.2f} s ({median / raw:.2f}x raw) over {len(values)} runs")


if __name__ == "__main__":
    main()
