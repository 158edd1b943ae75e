"""Time to first token of a CLI question: cold (`ragkit ask Q`, a fresh process loading everything)
vs through a warm server (`ragkit ask Q --server URL`, the models already loaded by `ragkit serve`).

    python bench/serve_ttft.py MODEL.gguf ../shared/data/paul_graham [--runs 3]

Both sides are fresh CLI processes timed from start to the first byte of the answer on stdout; the
answer cache is off on both, so every question is evaluated. Questions alternate between the sides.
MODEL is e.g. the phi-3-mini-shaped Q4_K_M from `bench/phi3_speed.py build`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from serving_common import free_port, wait_until_up

RAGKIT = str(Path(sys.executable).with_name("ragkit"))
QUESTIONS = [
    "What did the author do at Interleaf, and what did he learn there?",
    "Why did the author start Y Combinator?",
    "What was the first program the author wrote?",
    "What did the author paint?",
    "How did Viaweb make money?",
]


def first_byte_seconds(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert process.stdout is not None
    first = process.stdout.read(1)
    elapsed = time.perf_counter() - started
    process.kill()
    process.wait()
    if not first:
        raise SystemExit(f"{' '.join(cmd[:4])}... printed nothing")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("docs", type=Path)
    parser.add_argument("--runs", type=int, default=3, help="questions per side")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ragkit-serve-ttft-"))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "RAGKIT_DATA_DIR": str(work), "RAGKIT_MODEL": str(args.model),
           "RAGKIT_ANSWER_CACHE": "false"}  # fmt: skip
    subprocess.run([RAGKIT, "ingest", str(args.docs)], env=env, check=True, capture_output=True)
    port = free_port()
    log = open(work / "serve.log", "w")  # noqa: SIM115 (kept open for the server's life)
    server = subprocess.Popen([RAGKIT, "serve", "--port", str(port), "--debug"], env=env, stderr=log)
    url = f"http://127.0.0.1:{port}"
    cold: list[float] = []
    warm: list[float] = []
    try:
        wait_until_up(url + "/health", server)
        # The server warms up once, as a long-running one would be.
        first_byte_seconds([RAGKIT, "ask", "Who is the author?", "--server", url], env)
        for question in QUESTIONS[: args.runs]:
            cold.append(first_byte_seconds([RAGKIT, "ask", question], env))
            warm.append(first_byte_seconds([RAGKIT, "ask", question, "--server", url], env))
            print(f"{question[:50]:50}  cold {cold[-1]:6.2f} s   warm server {warm[-1]:6.2f} s", flush=True)
        print(f"server: {httpx.get(url + '/health', timeout=10).json()['answers']}; its log: {work / 'serve.log'}")
    finally:
        server.terminate()
        server.wait(timeout=60)
    print(f"median: cold {statistics.median(cold):.2f} s, through a warm server {statistics.median(warm):.2f} s "
          f"({statistics.median(warm) / statistics.median(cold):.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
