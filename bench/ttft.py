"""Time to first token before and after "half the wait" (issue 13), in one run.

    python bench/ttft.py MODEL.gguf ../shared/data [--squad 20] [--cold 21] [--before f159449]

"Before" is ragkit's own code at commit `--before` (default: the last commit
before pruning, the background load, the ONNX embedders and the answer
cache), run from a temporary git worktree with this venv; "after" is this
checkout with default settings (answer cache off, so every question is
evaluated). Questions: the Paul Graham question and `--squad` questions
spread over the shared SQuAD half, each over its own corpus (the essay; the
half's paragraphs, one file each, as `ragkit eval` indexes them).

- In-process, warm: one long-lived process per side, embedder and model
  loaded and one question asked first; the two sides take turns question by
  question, so a slower moment of the machine hits both. Time from
  `ask_stream` to its first token.
- Cold CLI: `ragkit ask QUESTION --max-tokens 1` as fresh processes, turns
  alternating, timed from process start to exit (the first token is the
  last); peak RSS of each run from wait4.

Also per question: prompt tokens, context tokens (the passages' share, by
the model's tokenizer) and whether the gold answer is in the prompt. MODEL is
the phi-3-mini-shaped Q4_K_M from `bench/phi3_speed.py build` (random
weights: the answers are noise, the timings are phi-3-mini's).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PG_QUESTION = "What did the author do at Interleaf, and what did he learn there?"
PG_ANSWER_FILE = "paul_graham/rag_dataset_unofficial_44q.json"

WORKER = r"""
import json, sys, time
from pathlib import Path
from ragkit import Ragkit
data_dir, model, threads, after = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "after"
extra = {"answer_cache": False} if after else {}
kit = Ragkit(data_dir=Path(data_dir), model=model, offline=True, threads=threads, **extra)

def first_token(question):
    started = time.perf_counter()
    stream = kit.ask_stream(question)
    for _ in stream:
        break
    seconds = time.perf_counter() - started
    stream.cancel()
    for _ in stream:
        pass
    return seconds, stream.prompt

first_token("What is this about?")  # embedder, model and prefix warm
print(json.dumps({"ready": True}), flush=True)
for line in sys.stdin:
    seconds, prompt = first_token(json.loads(line)["question"])
    print(json.dumps({"seconds": seconds, "prompt": prompt}), flush=True)
"""

CLI = "import sys; sys.argv[0] = 'ragkit'; from ragkit.cli import app; app()"


class Side:
    """One version of ragkit: its code, its data dir per corpus, its warm worker."""

    def __init__(self, name: str, code: Path, work: Path, model: Path, threads: int) -> None:
        self.name, self.code, self.model, self.threads = name, code, model, threads
        self.data = {corpus: work / f"{name}-{corpus}" for corpus in ("pg", "squad")}
        self.env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(code), "RAGKIT_THREADS": str(threads),
                    "RAGKIT_MODEL": str(model)}  # fmt: skip
        self.worker: subprocess.Popen[str] | None = None

    def run_cli(self, corpus: str, *args: str) -> tuple[float, float]:
        """Wall seconds and peak RSS (GB) of one CLI process."""
        env = {**self.env, "RAGKIT_DATA_DIR": str(self.data[corpus])}
        if self.name == "after":
            args = (*args, "--no-cache") if args[0] == "ask" else args
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", CLI, *args], env=env, cwd=self.code,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)  # fmt: skip
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) not in ((0, 3) if args[0] == "ingest" else (0,)):
            raise SystemExit(f"{self.name} {args[:2]} failed: {proc.stderr.read()[-400:] if proc.stderr else ''}")
        return seconds, usage.ru_maxrss / 1024**2

    def start(self, corpus: str) -> None:
        self.stop()
        self.worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(self.data[corpus]), str(self.model), str(self.threads), self.name],
            env=self.env, cwd=self.code, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        assert self.worker.stdout is not None
        json.loads(self.worker.stdout.readline())

    def ask(self, question: str) -> dict[str, Any]:
        assert self.worker is not None and self.worker.stdin is not None and self.worker.stdout is not None
        self.worker.stdin.write(json.dumps({"question": question}) + "\n")
        self.worker.stdin.flush()
        return json.loads(self.worker.stdout.readline())  # type: ignore[no-any-return]

    def stop(self) -> None:
        if self.worker is not None:
            self.worker.stdin.close()  # type: ignore[union-attr]
            self.worker.wait(timeout=60)
            self.worker = None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("shared_data", type=Path)
    parser.add_argument("--squad", type=int, default=20, help="SQuAD questions (spread evenly over the half)")
    parser.add_argument("--cold", type=int, default=21, help="questions also asked cold from the CLI (0: none)")
    parser.add_argument("--before", default="f159449", help="the commit measured as 'before'")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    args.shared_data = args.shared_data.resolve()  # the CLI runs from the code's folder

    sys.path.insert(0, str(ROOT))
    from ragkit.answering.llm import LlamaCppLLM
    from ragkit.evaluation import answer_in, load_qa, write_corpus

    work = Path(tempfile.mkdtemp(prefix="ragkit-ttft-"))
    before_code = work / "before-code"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(before_code), args.before],
                   check=True, capture_output=True)  # fmt: skip
    try:
        squad = load_qa(args.shared_data / "squad" / "dev-v1.1-even-articles.json")
        step = max(1, len(squad.items) // max(args.squad, 1))
        items = [
            ("pg", item) for item in load_qa(args.shared_data / PG_ANSWER_FILE).items if item.question == PG_QUESTION
        ]
        if not items:
            from ragkit.evaluation import QAItem

            items = [("pg", QAItem(PG_QUESTION, ("Interleaf",)))]
        items += [("squad", squad.items[i * step]) for i in range(args.squad)]
        corpus_dir = work / "squad-corpus"
        unique = list(dict.fromkeys(squad.contexts))
        write_corpus(((f"context-{n:06d}", "", text) for n, text in enumerate(unique)), corpus_dir)
        sources = {"pg": args.shared_data / "paul_graham" / "paul_graham_essay.txt", "squad": corpus_dir}
        sides = [
            Side("before", before_code, work, args.model, args.threads),
            Side("after", ROOT, work, args.model, args.threads),
        ]
        for side in sides:
            for corpus, source in sources.items():
                seconds, _ = side.run_cli(corpus, "ingest", str(source))
                print(f"{side.name}: ingested {corpus} in {seconds:.1f} s", flush=True)

        counter = LlamaCppLLM(args.model)
        rows: list[dict[str, Any]] = []
        for corpus in ("pg", "squad"):
            for side in sides:
                side.start(corpus)
            for item_corpus, item in items:
                if item_corpus != corpus:
                    continue
                row: dict[str, Any] = {"corpus": corpus, "question": item.question}
                for side in sides:
                    result = side.ask(item.question)
                    passages = result["prompt"].split("<passage", 1)
                    context = "<passage" + passages[1].rsplit("</passage>", 1)[0] if len(passages) > 1 else ""
                    row[side.name] = {
                        "warm_s": round(result["seconds"], 2),
                        "prompt_tokens": counter.count_tokens(result["prompt"]),
                        "context_tokens": counter.count_tokens(context) if context else 0,
                        "answer_in_prompt": answer_in(context, item),
                    }
                rows.append(row)
                print(json.dumps(row), flush=True)
            for side in sides:
                side.stop()
        for n, row in enumerate(rows[: args.cold]):
            for side in sides:
                seconds, rss = side.run_cli(row["corpus"], "ask", row["question"], "--max-tokens", "1")
                row[side.name].update(cold_s=round(seconds, 2), peak_rss_gb=round(rss, 2))
            print(json.dumps({"cold": n, **{s.name: row[s.name] for s in sides}}), flush=True)
        report(rows, [s.name for s in sides])
        (work / "rows.json").write_text(json.dumps(rows, indent=1))
        print(f"rows: {work / 'rows.json'}")
    finally:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before_code)], check=False)


def report(rows: list[dict[str, Any]], names: list[str]) -> None:
    def column(name: str, key: str, subset: list[dict[str, Any]]) -> list[float]:
        return [float(r[name][key]) for r in subset if key in r[name]]

    for label, subset in (("Paul Graham", [r for r in rows if r["corpus"] == "pg"]),
                          ("SQuAD", [r for r in rows if r["corpus"] == "squad"]), ("all", rows)):  # fmt: skip
        print(f"-- {label} ({len(subset)} questions)")
        for key in ("warm_s", "cold_s", "prompt_tokens", "context_tokens", "answer_in_prompt", "peak_rss_gb"):
            values = {name: column(name, key, subset) for name in names}
            if not all(values.values()):
                continue
            shown = []
            for name in names:
                v = values[name]
                stat = sum(v) / len(v) if key == "answer_in_prompt" else statistics.median(v)
                shown.append(f"{name} {stat:.2f}" if key != "peak_rss_gb" else f"{name} max {max(v):.2f}")
            ratio = ""
            if key in ("warm_s", "cold_s", "prompt_tokens", "context_tokens"):
                b, a = statistics.median(values[names[0]]), statistics.median(values[names[1]])
                ratio = f"  (after/before {a / b:.2f}x of medians)"
            print(f"  {key:17} " + ", ".join(shown) + ratio)


if __name__ == "__main__":
    main()
