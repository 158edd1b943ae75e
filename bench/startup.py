"""Start-up costs a user feels: `ragkit --help`, and a cold `ragkit search`
split into imports, embedding-model load, and the query itself.

    python bench/startup.py [--index NAME] [--data-dir DIR]   # search needs an ingested index
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RAGKIT = str(Path(sys.executable).with_name("ragkit"))


def wall(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--index", default="default")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if args.data_dir:
        env["RAGKIT_DATA_DIR"] = args.data_dir

    help_s = min(wall([RAGKIT, "--help"], env) for _ in range(args.repeat))
    search_s = min(
        wall([RAGKIT, "search", "how do I rotate keys", "--index", args.index], env) for _ in range(args.repeat)
    )
    # Where a cold search goes, measured in a fresh interpreter.
    probe = r"""
import json, sys, time
t0 = time.perf_counter()
from ragkit import Ragkit
import chromadb, sentence_transformers
t1 = time.perf_counter()
kit = Ragkit(index=sys.argv[1])
kit.embedder.embed(["load"])
t2 = time.perf_counter()
kit.search("how do I rotate keys")
t3 = time.perf_counter()
print(json.dumps({"imports_s": t1 - t0, "model_load_s": t2 - t1, "query_s": t3 - t2}))
"""
    parts = json.loads(subprocess.run([sys.executable, "-c", probe, args.index], check=True, capture_output=True,
                                      text=True, env=env).stdout)  # fmt: skip
    print(json.dumps({"help_s": round(help_s, 3), "cold_search_s": round(search_s, 2),
                      **{k: round(v, 3) for k, v in parts.items()}}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
