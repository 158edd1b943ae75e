"""Fuzz the parsers at scale: thousands of mutated documents of every format.

    python bench/fuzz_ingest.py --per-format 150 [--legacy] [--workdir DIR]

Each mutant is parsed in ragkit's parser processes (timed per file); then the
whole folder is ingested once into a fresh index. Reports per format how many
mutants were read or skipped, the commonest reasons and the slowest parse, and
whether the ingest completed with Chroma, manifest and keyword ids agreeing."""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ragkit import Ragkit
from ragkit.errors import DocumentError
from ragkit.indexers.sandbox import ParserConfig, ParserPool
from tests.fuzzing import mutants, seed_documents
from tests.ingest.test_isolation import _manifest_ids
from tests.ingest.test_pipeline import keyword_ids, store_ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-format", type=int, default=150)
    parser.add_argument("--legacy", action="store_true", help="also .doc/.ppt/.xls (needs LibreOffice)")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="ragkit-fuzz-"))
    seeds = seed_documents(work / "seeds", legacy=args.legacy)
    files = mutants(seeds, work / "mutants", args.per_format, seed=args.seed)
    print(f"{len(files)} mutants of {len(seeds)} formats in {work / 'mutants'}")

    read: collections.Counter[str] = collections.Counter()
    skipped: collections.Counter[str] = collections.Counter()
    reasons: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    slowest: dict[str, tuple[float, str]] = {}
    pool = ParserPool(ParserConfig(seconds=60.0), workers=1)
    started = time.perf_counter()
    try:
        for path, kind in files.items():
            t0 = time.perf_counter()
            try:
                doc = pool.parse(path, path.read_bytes())
                read[kind] += 1 if doc.blocks else 0
                skipped[kind] += 0 if doc.blocks else 1
            except DocumentError as exc:
                skipped[kind] += 1
                reasons[kind][exc.reason.split(":")[0][:60]] += 1
            spent = time.perf_counter() - t0
            if spent > slowest.get(kind, (0.0, ""))[0]:
                slowest[kind] = (spent, path.name)
    finally:
        pool.close()
    parse_seconds = time.perf_counter() - started

    print(f"\n{'format':8} {'read':>5} {'skipped':>7} {'slowest s':>9}  commonest skip reasons")
    for kind in sorted(seeds):
        common = "; ".join(f"{r} ({n})" for r, n in reasons[kind].most_common(2))
        print(f"{kind:8} {read[kind]:5d} {skipped[kind]:7d} {slowest[kind][0]:9.2f}  {common}")
    print(f"parsed {len(files)} files in {parse_seconds:.0f} s ({len(files) / parse_seconds:.1f} files/s)")

    with Ragkit(data_dir=work / "data", offline=True) as kit:
        t0 = time.perf_counter()
        report = kit.ingest([work / "mutants"])
        ingest_seconds = time.perf_counter() - t0
        agree = store_ids(kit) == _manifest_ids(kit) == keyword_ids(kit)
    accounted = report.files_new + len(report.skipped)
    print(
        f"\ningest: {report.files_new} indexed, {len(report.skipped)} skipped, {accounted}/{len(files)} accounted for,"
        f" {ingest_seconds:.0f} s; Chroma, manifest and keyword ids agree: {agree}"
    )


if __name__ == "__main__":
    main()
