"""Answers per second through `ragkit serve` when the LLM is a remote llama.cpp server (llm_url) with
1, 2 and 4 parallel slots.

    python bench/serve_slots.py LLAMA_SERVER_BIN MODEL.gguf [--docs examples/docs] [--answers 16]

For each slot count: starts llama.cpp's `llama-server -np SLOTS` on a loopback port, then `ragkit serve`
with llm_url pointing at it and llm_slots = SLOTS (MODEL also given to ragkit, read vocabulary-only for
nothing but the chat template; token counts come from the server's /tokenize), and sends ANSWERS
questions from 2 x SLOTS concurrent clients. Reports answers/s, median latency and the 429/5xx counts.
llama-server is not on PyPI: build it from the llama.cpp sources vendored in the llama-cpp-python sdist
(`cmake -B build -DLLAMA_CURL=OFF && cmake --build build --target llama-server`). Loopback only; every
process is stopped at the end.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from serving_common import QUESTIONS, free_port, wait_until_up

RAGKIT = str(Path(sys.executable).with_name("ragkit"))


def run(slots: int, args: argparse.Namespace, work: Path) -> dict[str, float]:
    llama_port, ragkit_port = free_port(), free_port()
    llama = subprocess.Popen(
        [str(args.llama_server), "-m", str(args.model), "-np", str(slots), "-c", str(args.ctx * slots),
         "--host", "127.0.0.1", "--port", str(llama_port), "-t", str(args.threads)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "RAGKIT_DATA_DIR": str(work), "RAGKIT_MODEL": str(args.model),
        "RAGKIT_LLM_URL": f"http://127.0.0.1:{llama_port}/v1", "RAGKIT_LLM_SLOTS": str(slots),
        "RAGKIT_ANSWER_CACHE": "false", "RAGKIT_MAX_TOKENS": str(args.max_tokens), "RAGKIT_ANSWER_QUEUE": "64",
    }  # fmt: skip
    ragkit = subprocess.Popen([RAGKIT, "serve", "--port", str(ragkit_port)], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{ragkit_port}"
    try:
        wait_until_up(f"http://127.0.0.1:{llama_port}/health", llama)
        wait_until_up(url + "/health", ragkit)
        body = {"messages": [{"role": "user", "content": "Warm up: what is this about?"}]}
        httpx.post(url + "/v1/chat/completions", json=body, timeout=600).raise_for_status()

        def ask(i: int) -> tuple[int, float]:
            started = time.perf_counter()
            question = {"messages": [{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}]}
            reply = httpx.post(url + "/v1/chat/completions", json=question, timeout=600)
            return reply.status_code, time.perf_counter() - started

        started = time.perf_counter()
        with ThreadPoolExecutor(2 * slots) as pool:
            results = list(pool.map(ask, range(args.answers)))
        wall = time.perf_counter() - started
    finally:
        for process in (ragkit, llama):
            process.terminate()
            process.wait(timeout=60)
    ok = [t for status, t in results if status == 200]
    return {
        "slots": slots, "answers_per_s": len(ok) / wall, "median_s": statistics.median(ok) if ok else float("nan"),
        "ok": len(ok), "429": sum(s == 429 for s, _ in results), "5xx": sum(s >= 500 for s, _ in results),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("llama_server", type=Path)
    parser.add_argument("model", type=Path)
    parser.add_argument("--docs", type=Path, default=Path(__file__).parent.parent / "examples" / "docs")
    parser.add_argument("--answers", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--ctx", type=int, default=2048, help="context per slot")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ragkit-serve-slots-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGKIT_DATA_DIR": str(work)}
    subprocess.run([RAGKIT, "ingest", str(args.docs)], env=env, check=True, capture_output=True)
    print(f"{'slots':>5} {'answers/s':>10} {'median s':>9} {'ok':>4} {'429':>4} {'5xx':>4}")
    for slots in (1, 2, 4):
        r = run(slots, args, work)
        print(f"{r['slots']:>5} {r['answers_per_s']:>10.3f} {r['median_s']:>9.2f} {r['ok']:>4} {r['429']:>4} "
              f"{r['5xx']:>4}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
