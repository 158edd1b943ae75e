"""How fast a Stop takes effect while the model evaluates the prompt.

    python bench/cancel_latency.py MODEL.gguf [--tokens 1300] [--runs 5]

MODEL is e.g. the phi-3-mini-shaped Q4_K_M from `bench/phi3_speed.py build`,
or the gemma3-270m stand-in. Each run streams a prompt of about `--tokens`
tokens, cancels it from another thread at a random moment of its evaluation
(before any token is generated), and measures the time from `cancel()` to
the stream's return; then the same loaded model answers a short question (the
model stays usable). Without the abort callback a stop would wait for the
batch being computed: a 512-token batch is ~20 s of phi-3-mini on 2 threads."""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ragkit.answering.llm import LlamaCppLLM
from ragkit.cancel import CancelToken


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("--tokens", type=int, default=1300)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    llm = LlamaCppLLM(args.model, threads=args.threads, kv_cache="f16")
    sentence = "Entry {i}: the backup of volume {i} was verified by the night operator. "
    prompt = ""
    i = 0
    while llm.count_tokens(prompt) < args.tokens:
        prompt += sentence.format(i=i)
        i += 1
    n_tokens = llm.count_tokens(prompt)
    n_ctx = ((n_tokens + 64) // 512 + 1) * 512
    # One full evaluation to learn its length (and load the model). Each run starts differently, so
    # llama.cpp cannot reuse the evaluated prompt of the run before.
    started = time.perf_counter()
    first = next(iter(llm.stream(prompt, n_ctx=n_ctx, max_tokens=1, temperature=0.0, stop=[])), "")
    full = time.perf_counter() - started
    print(f"prompt {n_tokens} tokens, n_ctx {n_ctx}: full evaluation {full:.1f} s ({n_tokens / full:.1f} tok/s)")
    rng = random.Random(7)
    delays: list[float] = []
    for run in range(args.runs):
        token = CancelToken()
        done = threading.Event()
        produced: list[str] = []

        text = f"Run {run}. " + prompt

        def consume(
            t: CancelToken = token, out: list[str] = produced, ev: threading.Event = done, text: str = text
        ) -> None:
            out.extend(llm.stream(text, n_ctx=n_ctx, max_tokens=8, temperature=0.0, stop=[], cancel=t))
            ev.set()

        worker = threading.Thread(target=consume)
        worker.start()
        time.sleep(rng.uniform(0.2, 0.8) * full)
        cancelled_at = time.perf_counter()
        token.cancel()
        done.wait()
        delays.append(time.perf_counter() - cancelled_at)
        worker.join()
        print(f"run {run + 1}: cancel -> return {delays[-1] * 1000:.0f} ms, tokens produced {len(produced)}")
    next_answer = "".join(llm.stream("The capital of France is", n_ctx=n_ctx, max_tokens=4, temperature=0.0, stop=[]))
    print(
        f"cancel -> return: median {statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms;"
        f" next question answered: {bool(next_answer.strip())} ({first!r} was the first token of the full run)"
    )


if __name__ == "__main__":
    main()
