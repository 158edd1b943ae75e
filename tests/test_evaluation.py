"""`ragkit eval` on small generated datasets: BEIR layout and QA files."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ragkit import Ragkit
from ragkit.evaluation import (
    QAItem,
    contains_answer,
    evaluate_retrieval,
    load_beir,
    mrr_at,
    ndcg_at,
    recall_at,
    token_f1,
)
from tests.conftest import KEYS_DOC, write_docs

Cli = Callable[..., subprocess.CompletedProcess[str]]

TOPICS = {
    "d1": ("Tea", "Green tea is steamed or pan-fired soon after picking, which keeps its leaves green."),
    "d2": ("Volcanoes", "Basaltic lava from shield volcanoes flows far because it is hot and runny."),
    "d3": ("Bees", "Honey bees tell each other where flowers are with a waggle dance."),
    "d4": ("Glaciers", "A glacier moves downhill under its own weight, carving U-shaped valleys."),
    "d5": ("Chess", "Castling moves the king two squares towards a rook, which jumps over it."),
    "d6": ("Bread", "Sourdough rises thanks to wild yeast and lactic acid bacteria in the starter."),
}
QUERIES = {
    "q1": ("how do bees communicate where flowers are", {"d3": 1}),
    "q2": ("why does green tea stay green", {"d1": 1}),
    "q3": ("what makes sourdough bread rise", {"d6": 1}),
    "q4": ("how are U-shaped valleys formed", {"d4": 2}),
}


def write_beir(root: Path) -> Path:
    root.mkdir(parents=True)
    with open(root / "corpus.jsonl", "w") as fh:
        for doc_id, (title, text) in TOPICS.items():
            fh.write(json.dumps({"_id": doc_id, "title": title, "text": text}) + "\n")
    with open(root / "queries.jsonl", "w") as fh:
        for qid, (text, _) in QUERIES.items():
            fh.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (root / "qrels").mkdir()
    rows = ["query-id\tcorpus-id\tscore"] + [
        f"{q}\t{d}\t{g}" for q, (_, rel) in QUERIES.items() for d, g in rel.items()
    ]
    (root / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n")
    return root


def test_ranking_metrics_match_their_definitions() -> None:
    relevant = {"a": 1, "b": 2}
    assert ndcg_at(["b", "a", "x"], relevant, 10) == pytest.approx(1.0)
    # DCG = 1/log2(2) + 2/log2(4) = 2.0; ideal = 2/log2(2) + 1/log2(3)
    assert ndcg_at(["a", "x", "b"], relevant, 10) == pytest.approx(2.0 / (2 + 1 / 1.584962500721156))
    assert recall_at(["x", "a"], relevant, 10) == 0.5 and recall_at(["x", "a"], relevant, 1) == 0.0
    assert mrr_at(["x", "y", "b"], relevant, 10) == pytest.approx(1 / 3)
    item = QAItem("q", ("An IBM 1401.",))
    assert contains_answer("They used the IBM 1401 in the basement.", item)
    assert token_f1("the IBM 1401", item.answers) == 1.0


def test_eval_scores_every_retriever_reuses_its_index_and_resumes(
    make_kit: Callable[..., Ragkit], tmp_path: Path
) -> None:
    dataset = load_beir(write_beir(tmp_path / "tiny"))
    kit = make_kit(index="eval-tiny")
    first = evaluate_retrieval(kit, dataset, modes=("dense", "bm25", "hybrid", "hybrid+rerank"))
    rows = {r.mode: r for r in first.rows}
    assert first.documents == 6 and first.chunks_embedded == 6
    for mode in ("dense", "bm25", "hybrid"):
        assert rows[mode].queries == 4 and 0.0 <= rows[mode].ndcg_at_10 <= 1.0 and rows[mode].p50_ms > 0
    assert rows["hybrid"].ndcg_at_10 == pytest.approx(1.0) and rows["hybrid"].recall_at_10 == 1.0
    assert "not on disk" in rows["hybrid+rerank"].note  # no reranker here: said, not faked
    runs = list((kit.settings.data_dir / "eval" / "eval-tiny" / "runs").glob("*.jsonl"))
    assert len(runs) == 3
    # Drop the last stored query of one run, as if the eval had been killed there.
    lines = runs[0].read_text().splitlines()
    runs[0].write_text("\n".join(lines[:-1]) + "\n")
    again = evaluate_retrieval(make_kit(index="eval-tiny"), dataset, modes=("dense", "bm25", "hybrid"))
    assert again.chunks_embedded == 0  # the index is reused
    assert [(r.mode, r.ndcg_at_10, r.recall_at_100) for r in again.rows] == [
        (r.mode, r.ndcg_at_10, r.recall_at_100) for r in first.rows[:3]
    ]  # deterministic
    assert len(runs[0].read_text().splitlines()) == 4  # the missing query was run again


def test_eval_command_prints_a_table_and_json(cli: Cli, tmp_path: Path) -> None:
    dataset = write_beir(tmp_path / "tiny")
    table = cli("eval", str(dataset), "--modes", "dense,bm25,hybrid,hybrid+rerank")
    assert table.returncode == 0, table.stderr
    for text in ("nDCG@10", "recall@100", "MRR@10", "p95 ms", "dense", "bm25", "hybrid", "not on disk"):
        assert text in table.stdout
    as_json = cli("eval", str(dataset), "--modes", "hybrid", "--json")
    data = json.loads(as_json.stdout)
    assert data["rows"][0]["mode"] == "hybrid" and data["chunks_embedded"] == 0
    bad = cli("eval", str(tmp_path / "nowhere"))
    assert bad.returncode != 0 and "no such file or folder" in bad.stderr and "Traceback" not in bad.stderr


def test_qa_eval_scores_retrieval_and_generated_answers(cli: Cli, tmp_path: Path, tiny_phi3: Path) -> None:
    docs = write_docs(tmp_path / "qa-docs", {"ops.md": KEYS_DOC})
    qa = tmp_path / "qa.jsonl"
    qa.write_text(
        json.dumps({"question": "How long is the grace period for old keys?", "answers": ["72-hour", "72h"]})
        + "\n"
        + json.dumps({"query": "When is the database backed up?", "reference_answer": "every night at 02:30 UTC"})
        + "\n"
    )
    result = cli("eval", str(qa), "--corpus", str(docs), "-k", "2", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["questions"] == 2 and data["hit_at_k"] == 1.0 and data["generated"] is False
    generated = cli(
        "eval", str(qa), "--corpus", str(docs), "--generate", "--model", str(tiny_phi3), "--json",
        env={"RAGKIT_MAX_TOKENS": "8"},
    )  # fmt: skip
    assert generated.returncode == 0, generated.stderr
    scores = json.loads(generated.stdout)
    # A random-weight model answers nonsense: this checks the plumbing, not quality.
    assert scores["generated"] is True and 0.0 <= scores["token_f1"] <= 1.0
    assert all("answer" in example for example in scores["examples"])


def test_squad_json_and_llamaindex_style_files_load(tmp_path: Path) -> None:
    from ragkit.evaluation import load_qa

    squad = tmp_path / "squad.json"
    context = "The castle was built in 1248 by the bishop of Ely."
    squad.write_text(json.dumps({"data": [{"paragraphs": [{"context": context, "qas": [
        {"question": "When was the castle built?", "answers": [{"text": "1248"}, {"text": "1248"}]},
        {"question": "Unanswerable?", "answers": []},
    ]}]}]}))  # fmt: skip
    loaded = load_qa(squad)
    assert [(i.question, i.answers) for i in loaded.items] == [("When was the castle built?", ("1248",))]
    assert loaded.contexts == [context]  # indexed when no --corpus is given
    examples = tmp_path / "examples.json"
    examples.write_text(
        json.dumps({"examples": [{"query": "Q?", "reference_answer": "A.", "reference_contexts": ["c"]}]})
    )
    assert load_qa(examples).items[0].contexts == ("c",)
    broken = tmp_path / "broken.json"
    broken.write_text("[1, 2")
    with pytest.raises(Exception, match="not a QA dataset"):
        load_qa(broken)


def test_qa_eval_reports_what_the_prompt_holds_and_what_pruning_saves(
    cli: Cli, tmp_path: Path, tiny_phi3: Path
) -> None:
    filler = "\n".join(f"Line {i}: the staging cluster was inspected and nothing changed." for i in range(30))
    docs = write_docs(tmp_path / "qa-docs", {"ops.md": KEYS_DOC + "\n" + filler + "\n"})
    qa = tmp_path / "qa.jsonl"
    qa.write_text(json.dumps({"question": "How long is the grace period for old keys?", "answers": ["72-hour"]}) + "\n")
    runs = {}
    for prune in ("true", "false"):
        result = cli("eval", str(qa), "--corpus", str(docs), "--model", str(tiny_phi3), "--json",
                     env={"RAGKIT_PRUNE": prune})  # fmt: skip
        assert result.returncode == 0, result.stderr
        runs[prune] = json.loads(result.stdout)
    for data in runs.values():
        assert data["tokenizer"] == "tiny-phi3.gguf" and data["answer_in_context"] == 1.0
        assert 0 < data["context_tokens_p50"] <= data["prompt_tokens_p50"]
    assert runs["true"]["context_tokens_p50"] < runs["false"]["context_tokens_p50"]
    table = cli("eval", str(qa), "--corpus", str(docs), "--model", str(tiny_phi3))
    assert "answer in the prompt's passages" in table.stdout and "context tokens" in table.stdout
