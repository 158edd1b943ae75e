"""Tune passage pruning: context tokens vs answer-in-context, without an LLM run.

  python bench/tune_pruning.py ../shared/data --model TOKENIZER.gguf [--data-dir DIR] [--limit N]

Uses the indexes `ragkit eval` builds for the shared SQuAD half
(squad/dev-v1.1-even-articles.json) and the Paul Graham set (with its essay as
corpus), and with `--sets cmrc` the Chinese CMRC 2018 trial set; run those
evals first. Each question is searched once, as `ask` searches (top_k,
neighbours joined), each unit of each passage is scored once, and then every
setting is applied offline with ragkit's own `select`: context tokens are
counted with TOKENIZER (e.g. llama.cpp's models/ggml-vocab-phi-3.gguf, phi-3's
real tokenizer, vocabulary only), answer-in-context as `ragkit eval` counts
it. Tune on these sets only; report on others.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
from dataclasses import dataclass
from pathlib import Path

from ragkit import Ragkit
from ragkit.answering.llm import LlamaCppLLM
from ragkit.answering.prompting import merge_neighbours, passages_text
from ragkit.answers import Source
from ragkit.embedding_models import cosine_floor
from ragkit.evaluation import QAItem, _percentile, answer_in, load_qa
from ragkit.retrieval.pruning import PruneOptions, SentencePruner, lexical_scores, select, split_units


@dataclass
class Case:
    item: QAItem
    candidates: list[Source]
    dense: list[list[float]]
    """Each unit's cosine to the question, as the embedder gives it (no floor)."""
    lexical: list[list[float]]
    ranked: list[str]
    """The retrieval results' texts before neighbouring chunks were joined (for keep_whole)."""

    def scores(self, lexical_weight: float, floor: float = 0.0) -> list[list[float]]:
        return [
            [(d - floor) / (1 - floor) + lexical_weight * w for d, w in zip(ds, ws)]
            for ds, ws in zip(self.dense, self.lexical)
        ]


def gather(kit: Ragkit, items: list[QAItem]) -> list[Case]:
    """Each question searched once; each unit's cosine and term overlap, kept apart."""
    pruner = SentencePruner(kit.embedder, PruneOptions(lexical_weight=0.0))
    floor = cosine_floor(kit.embedder.model_id)  # the pruner's scores are floored: back to cosines
    cases = []
    for item in items:
        results = kit.search(item.question, k=kit.settings.top_k)
        candidates = merge_neighbours(results)
        texts = [[p.text[u.start : u.end] for u in split_units(p.text, p.kind)] for p in candidates]
        flat = lexical_scores(item.question, [t for ts in texts for t in ts])
        lexical = []
        for ts in texts:
            lexical.append(flat[: len(ts)])
            flat = flat[len(ts) :]
        ranked = [r.text for r in results]
        dense = [[d * (1 - floor) + floor for d in ds] for ds in pruner.scores(item.question, candidates)]
        cases.append(Case(item, candidates, dense, lexical, ranked))
    return cases


def measure(
    cases: list[Case], llm: LlamaCppLLM, options: PruneOptions | None, floor: float = 0.0
) -> tuple[float, float, float]:
    tokens: list[float] = []
    found = 0
    for case in cases:
        if options is None:
            given = case.candidates
        else:
            scores = case.scores(options.lexical_weight, floor)
            given = select(case.candidates, scores, options, case.ranked[: options.keep_whole])
        tokens.append(float(llm.count_tokens(passages_text(given))) if given else 0.0)
        found += any(answer_in(s.text, case.item) for s in given)
    return _percentile(tokens, 0.5), statistics.fmean(tokens), found / len(cases)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--every", type=int, default=1, help="Every Nth question only (a spread-out sample).")
    parser.add_argument("--lexical", default="0.5,0.75,1.0")
    parser.add_argument("--keep-whole", default="0,1", help="First passages kept whole (comma-separated).")
    parser.add_argument("--unit-margins", default="0.4,0.5,0.6")
    parser.add_argument("--passage-margins", default="0.3,0.4,0.5")
    parser.add_argument("--sets", default="squad,paul_graham", help="Of squad, paul_graham, cmrc (comma-separated).")
    parser.add_argument("--floors", default="", help="Cosine floors to try (default: the embedding model's own).")
    args = parser.parse_args()
    llm = LlamaCppLLM(args.model)
    sets = {
        "squad": ("eval-dev-v1.1-even-articles", args.data / "squad" / "dev-v1.1-even-articles.json"),
        "paul_graham": (
            "eval-rag_dataset_unofficial_44q",
            args.data / "paul_graham" / "rag_dataset_unofficial_44q.json",
        ),
        "cmrc": ("eval-cmrc2018_trial", args.data / "cmrc2018" / "cmrc2018_trial.json"),
    }
    for name in args.sets.split(","):
        index, path = sets[name]
        kit = Ragkit(index=index, data_dir=args.data_dir, offline=True, rerank="off", model=str(args.model))
        items = load_qa(path).items[:: args.every if name != "paul_graham" else 1][: args.limit]
        cases = gather(kit, items)
        p50, mean, aic = measure(cases, llm, None)
        print(f"{name} ({len(items)} questions) off: p50 {p50:.0f} mean {mean:.0f} in-context {aic:.4f}", flush=True)
        floors = [float(f) for f in args.floors.split(",")] if args.floors else [cosine_floor(kit.embedder.model_id)]
        grid = itertools.product(
            floors,
            (int(n) for n in args.keep_whole.split(",")),
            (float(w) for w in args.lexical.split(",")),
            (float(m) for m in args.unit_margins.split(",")),
            [float(m) for m in args.passage_margins.split(",")],
        )
        for floor, keep_whole, lexical_weight, unit_margin, passage_margin in grid:
            options = PruneOptions(
                unit_margin=unit_margin, passage_margin=passage_margin, lexical_weight=lexical_weight,
                keep_whole=keep_whole,
            )  # fmt: skip
            p50, mean, aic = measure(cases, llm, options, floor)
            print(
                f"{name} floor {floor} whole {keep_whole} w={lexical_weight} unit {unit_margin} "
                f"passage {passage_margin}: "
                f"p50 {p50:.0f} mean {mean:.0f} in-context {aic:.4f}",
                flush=True,
            )
        kit.close()


if __name__ == "__main__":
    main()
