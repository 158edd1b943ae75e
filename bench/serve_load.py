"""Many clients against one `ragkit serve` on 127.0.0.1: searches and answers mixed.

    python bench/serve_load.py [--docs examples/docs] [--model M.gguf] [--clients 50] [--requests 4]

Starts `ragkit serve` (a fresh data dir, DOCS ingested first) on a free loopback port, then CLIENTS
concurrent clients each send REQUESTS requests, about a third of them answers (`POST /v1/chat/completions`,
streamed and not) and the rest searches (`POST /api/search`), with no pause between them. Without --model
the answers come from a tiny random-weight phi3 GGUF (built here): the numbers show the server's queueing,
not a real model's speed. Reports p50/p95 latency per endpoint, answered vs 429 (queue full), and any 5xx.
Bounded: CLIENTS x REQUESTS requests at most, every request with a timeout, the whole run stops after
--deadline seconds, and the server is stopped at the end. Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from serving_common import QUESTIONS, free_port, wait_until_up

RAGKIT = str(Path(sys.executable).with_name("ragkit"))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def one_client(http: httpx.AsyncClient, n: int, seed: int, results: list[tuple[str, int, float]]) -> None:
    rng = random.Random(seed)
    for _ in range(n):
        question = rng.choice(QUESTIONS)
        kind = rng.choices(["search", "ask", "ask-stream"], weights=[2, 0.5, 0.5])[0]
        started = time.perf_counter()
        try:
            if kind == "search":
                response = await http.post("/api/search", json={"query": question, "k": 5})
                status = response.status_code
            else:
                body = {"messages": [{"role": "user", "content": question}], "stream": kind == "ask-stream"}
                async with http.stream("POST", "/v1/chat/completions", json=body) as response:
                    status = response.status_code
                    async for _ in response.aiter_lines():
                        pass
        except httpx.HTTPError:
            status = 0  # timed out or refused: counted apart
        results.append((kind, status, time.perf_counter() - started))


async def load(url: str, clients: int, requests: int, deadline: float) -> list[tuple[str, int, float]]:
    results: list[tuple[str, int, float]] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        tasks = [one_client(http, requests, seed, results) for seed in range(clients)]
        try:
            await asyncio.wait_for(asyncio.gather(*tasks), timeout=deadline)
        except asyncio.TimeoutError:
            print(f"stopped at the {deadline:.0f} s deadline", file=sys.stderr)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=Path, default=Path(__file__).parent.parent / "examples" / "docs")
    parser.add_argument("--model", type=Path, help="GGUF to answer with (default: a tiny random phi3)")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=4, help="requests per client")
    parser.add_argument("--queue", type=int, default=8, help="answers that may wait for the model")
    parser.add_argument("--deadline", type=float, default=300.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ragkit-serve-load-"))
    model = args.model
    if model is None:
        from ragkit.testing import build_phi3_gguf

        model = build_phi3_gguf(work / "tiny-phi3.gguf")
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "RAGKIT_DATA_DIR": str(work / "data"), "RAGKIT_MODEL": str(model),
        "RAGKIT_ANSWER_QUEUE": str(args.queue), "RAGKIT_MAX_TOKENS": "64", "RAGKIT_ANSWER_CACHE": "false",
    }  # fmt: skip
    subprocess.run([RAGKIT, "ingest", str(args.docs)], env=env, check=True, capture_output=True)
    port = free_port()
    log = open(work / "serve.log", "w")  # noqa: SIM115 (kept open for the server's life)
    server = subprocess.Popen([RAGKIT, "serve", "--port", str(port)], env=env, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(url + "/health", server)
        # Warm: embedder and model loaded, as a long-running server would be.
        httpx.post(url + "/v1/chat/completions", json={"messages": [{"role": "user", "content": "hi"}]}, timeout=300)
        started = time.perf_counter()
        results = asyncio.run(load(url, args.clients, args.requests, args.deadline))
        wall = time.perf_counter() - started
        health = httpx.get(url + "/health", timeout=10).json()
    finally:
        server.terminate()
        server.wait(timeout=30)
    report: dict[str, object] = {"clients": args.clients, "requests": len(results), "wall_s": round(wall, 2),
                                 "server_answers": health.get("answers")}  # fmt: skip
    for kind in ("search", "ask", "ask-stream"):
        ok = [t for k, s, t in results if k == kind and s == 200]
        report[kind] = {
            "ok": len(ok), "429": sum(1 for k, s, _ in results if k == kind and s == 429),
            "5xx": sum(1 for k, s, _ in results if k == kind and s >= 500),
            "failed": sum(1 for k, s, _ in results if k == kind and s == 0),
            "p50_s": round(statistics.median(ok), 3) if ok else None, "p95_s": round(percentile(ok, 0.95), 3),
        }  # fmt: skip
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{len(results)} requests from {args.clients} clients in {wall:.1f} s")
    print(f"{'endpoint':12} {'ok':>5} {'429':>5} {'5xx':>5} {'failed':>6} {'p50 s':>8} {'p95 s':>8}")
    for kind in ("search", "ask", "ask-stream"):
        row = report[kind]
        assert isinstance(row, dict)
        print(f"{kind:12} {row['ok']:>5} {row['429']:>5} {row['5xx']:>5} {row['failed']:>6} "
              f"{row['p50_s'] or float('nan'):>8.3f} {row['p95_s']:>8.3f}")  # fmt: skip
    print(f"server: {health.get('answers')}; its log: {work / 'serve.log'}")


if __name__ == "__main__":
    main()
