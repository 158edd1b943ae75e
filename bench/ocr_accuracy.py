"""OCR accuracy and speed on scanned pages whose text is known.

    python bench/ocr_accuracy.py [../shared/data/paul_graham/paul_graham_essay.txt] [--pages 4] [--dpi 150 300]

Known text (the given file, else a built-in passage) is wrapped into 11-pt
lines, rendered to image-only PDF pages at each resolution (no text layer, as
a scanner writes them), and read back by ragkit's PDF loader, which OCRs
pages without text. Reports the character error rate (edit distance over
reference length, whitespace folded) and pages per second."""

from __future__ import annotations

import argparse
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ragkit.indexers import load_document
from ragkit.indexers.base import LoadContext, ParserServices
from tests import docgen

BUILTIN = (
    "The backup vault is unlocked with the passphrase orange-falcon-42. Keys are rotated every 45 days by the "
    "platform team, and each rotation is logged in the audit trail with the operator's name and the time. "
    "Before college the two main things I worked on, outside of school, were writing and programming. "
) * 12

LINES_PER_PAGE = 38


def edit_distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def fold(text: str) -> str:
    return " ".join(text.split())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("text", type=Path, nargs="?")
    parser.add_argument("--pages", type=int, default=4)
    parser.add_argument("--dpi", type=int, nargs="+", default=[150, 300])
    args = parser.parse_args()
    source = args.text.read_text(encoding="utf-8") if args.text else BUILTIN
    lines = textwrap.wrap(fold(source), 78)[: args.pages * LINES_PER_PAGE]
    pages = [lines[i : i + LINES_PER_PAGE] for i in range(0, len(lines), LINES_PER_PAGE)]
    services = ParserServices()
    services.ocr()  # load the engine before timing
    print(f"{len(pages)} pages, {sum(len(line) for line in lines)} characters")
    print(f"{'dpi':>4} {'CER':>7} {'pages/s':>8} {'s/page':>7}")
    with tempfile.TemporaryDirectory() as work:
        for dpi in args.dpi:
            path = docgen.scanned_pdf(Path(work) / f"scan-{dpi}.pdf", pages, dpi=dpi)
            services.ocr_dpi = dpi
            started = time.perf_counter()
            doc = load_document(path, path.read_bytes(), LoadContext(services=services))
            seconds = time.perf_counter() - started
            errors = total = 0
            for number, page_lines in enumerate(pages, 1):
                reference = fold(" ".join(page_lines))
                recognised = fold(" ".join(b.text for b in doc.blocks if b.page == number))
                errors += edit_distance(reference, recognised)
                total += len(reference)
            print(f"{dpi:4d} {errors / total:7.2%} {len(pages) / seconds:8.2f} {seconds / len(pages):7.2f}")


if __name__ == "__main__":
    main()
