"""Folder sync: time from saving a file to it being searchable, and idle CPU.

    python bench/watch_latency.py [--saves 20] [--settle 1.0] [--idle 60]

Watches a temporary folder with `Ragkit.watch()` (real watcher, real embedder,
embedded Chroma; the index inside the watched folder), then `--saves` times
writes a new one-page file and measures until `kit.search` returns it (p50,
p95). Then measures the process's CPU time over `--idle` seconds of watching
with nothing changing."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ragkit import Ragkit, Settings
from ragkit.cancel import CancelToken

PAGE = " ".join(f"Sentence {i} of the page describes routine maintenance of the plant." for i in range(40))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saves", type=int, default=20)
    parser.add_argument("--settle", type=float, default=1.0)
    parser.add_argument("--idle", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "notes").mkdir()
        (root / "notes" / "first.md").write_text("# First\n\n" + PAGE)
        kit = Ragkit(settings=Settings.load(config_files=(), env={}, data_dir=root / "data", offline=True))
        stop = CancelToken()
        synced = threading.Event()
        watcher = threading.Thread(
            target=kit.watch, args=([root],), kwargs={"cancel": stop, "settle": args.settle,
                                                     "on_update": lambda _u: synced.set()},
        )  # fmt: skip
        watcher.start()
        synced.wait(120)  # the catch-up ingest (and the embedder's load) is not part of the figure
        kit.search("maintenance", k=1)
        waits = []
        for i in range(args.saves):
            code = f"ZX{i:04d}Q"
            saved = time.perf_counter()
            (root / "notes" / f"page{i}.md").write_text(f"# Page {i}\n\nInspection code {code}. {PAGE}")
            while not any(code in hit.text for hit in kit.search(f"inspection code {code}", k=3, mode="bm25")):
                time.sleep(0.02)
            waits.append(time.perf_counter() - saved)
            time.sleep(0.5)
        waits.sort()
        p95 = waits[min(len(waits) - 1, round(0.95 * (len(waits) - 1)))]
        print(f"save to searchable: p50 {statistics.median(waits):.2f} s, p95 {p95:.2f} s, "
              f"max {waits[-1]:.2f} s over {len(waits)} saves (settle {args.settle} s)")  # fmt: skip
        cpu_before, wall_before = time.process_time(), time.perf_counter()
        time.sleep(args.idle)
        cpu = time.process_time() - cpu_before
        wall = time.perf_counter() - wall_before
        print(f"idle: {cpu:.3f} s CPU over {wall:.0f} s watching ({100 * cpu / wall:.2f} % of one core)")
        stop.cancel()
        watcher.join(30)
        kit.close()


if __name__ == "__main__":
    main()
