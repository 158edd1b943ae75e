"""How fast Ctrl-C stops `ragkit ask` while the model evaluates the prompt.

    python bench/cli_ctrl_c.py ../shared/data MODEL.gguf [--runs 3] [--after 4]

Indexes the Paul Graham essay into a temporary data folder, then runs the real
CLI (`ragkit ask -k 12 --ctx 8192 --show-context`, a prompt of a few thousand
tokens), waits until the prompt is printed (the model then evaluates it), sends
SIGINT `--after` seconds into the prompt's evaluation and measures the time
from the signal to the process's exit, with its exit code (130 when stopped)
and whether "(stopped)" was printed. A second ask then answers to completion
in the same data folder (nothing was left broken)."""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RAGKIT = str(Path(sys.executable).with_name("ragkit"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path, help="the shared data folder")
    parser.add_argument("model", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--after", type=float, default=3.0, help="seconds into the prompt's evaluation")
    args = parser.parse_args()
    essay = args.data / "paul_graham" / "paul_graham_essay.txt"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "RAGKIT_DATA_DIR": tmp, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", "COLUMNS": "100"}
        subprocess.run([RAGKIT, "ingest", str(essay)], env=env, check=True, capture_output=True)
        ask = [RAGKIT, "ask", "What did the author work on before college?", "--model", str(args.model),
               "-k", "12", "--ctx", "8192", "--max-tokens", "64", "--min-score", "0", "--show-context"]  # fmt: skip
        delays = []
        for run in range(args.runs):
            process = subprocess.Popen(ask, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert process.stdout is not None
            shown: list[str] = []
            rules = 0
            for line in process.stdout:  # the prompt is printed between two rules
                shown.append(line)
                rules += line.startswith("─")
                if rules == 2:
                    break
            time.sleep(args.after)
            sent = time.perf_counter()
            process.send_signal(signal.SIGINT)
            rest, err = process.communicate(timeout=120)
            out = "".join(shown) + rest
            delay = time.perf_counter() - sent
            delays.append(delay)
            print(f"run {run + 1}: exit {process.returncode} {delay * 1000:.0f} ms after Ctrl-C, "
                  f"stopped printed: {'(stopped)' in out}, stderr: {err.strip()[-120:]!r}")  # fmt: skip
        print(f"Ctrl-C to exit: median {statistics.median(delays) * 1000:.0f} ms, max {max(delays) * 1000:.0f} ms")
        started = time.perf_counter()
        full = subprocess.run(ask, env=env, capture_output=True, text=True)
        print(f"the next ask: exit {full.returncode} in {time.perf_counter() - started:.1f} s "
              f"(uninterrupted prompt evaluation and answer)")  # fmt: skip


if __name__ == "__main__":
    main()
