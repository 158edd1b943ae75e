"""Hybrid retrieval through the library: real all-MiniLM-L6-v2, embedded
Chroma and the SQLite FTS5 keyword index."""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest

from ragkit import Ragkit, Source, Where
from ragkit.answering.prompting import merge_neighbours
from ragkit.errors import ConfigError, ModelNotFoundError
from ragkit.retrieval.retriever import Hit, Retrieval, fuse
from tests.conftest import FAQ_DOC, KEYS_DOC, CountingEmbedder, write_docs
from tests.ingest.test_pipeline import keyword_ids, store_ids

INCIDENT_DOC = """# Incident runbook

## Error codes

When the gateway logs ERR-7731 the upstream certificate has expired: renew it with certbot.
"""

TEAM_DOC = """# Team

## Holidays

Staff take their annual leave in August, when the office is closed for three weeks.
"""


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return write_docs(
        tmp_path / "docs",
        {"ops.md": KEYS_DOC, "faq.txt": FAQ_DOC, "incident.md": INCIDENT_DOC, "team/people.md": TEAM_DOC},
    )


def test_bm25_finds_exact_codes_and_dense_finds_paraphrases_hybrid_finds_both(
    make_kit: Callable[..., Ragkit], corpus: Path
) -> None:
    kit = make_kit()
    kit.ingest([corpus])
    # A code only BM25 can match exactly.
    by_code = kit.search("ERR-7731", k=3)
    assert Path(by_code[0].path).name == "incident.md"
    assert by_code[0].retrieval is not None and by_code[0].retrieval.bm25_rank == 1
    assert by_code[0].retrieval.fused_score is not None and by_code[0].retrieval.dense_score is not None
    # A paraphrase sharing no content word with the answer: only the dense side finds it.
    paraphrase = "When do employees go on vacation?"
    assert not kit.search(paraphrase, k=3, mode="bm25") or all(
        Path(s.path).name != "people.md" for s in kit.search(paraphrase, k=3, mode="bm25")
    )
    hybrid = kit.search(paraphrase, k=3)
    assert Path(hybrid[0].path).name == "people.md"
    assert hybrid[0].retrieval is not None and hybrid[0].retrieval.dense_rank == 1


def test_reciprocal_rank_fusion_rewards_agreement_and_honours_weights() -> None:
    def hits(ids: list[str], side: str) -> list[Hit]:
        return [
            Hit(i, i, {}, Retrieval(dense_rank=r) if side == "dense" else Retrieval(bm25_rank=r))
            for r, i in enumerate(ids, 1)
        ]

    fused = fuse(hits(["a", "b", "c"], "dense"), hits(["c", "d", "a"], "bm25"), 1.0, 1.0, 60)
    assert [h.id for h in fused][:2] == ["a", "c"]  # found by both
    assert fused[0].retrieval.dense_rank == 1 and fused[0].retrieval.bm25_rank == 3
    keyword_heavy = fuse(hits(["a", "b"], "dense"), hits(["b", "d"], "bm25"), 0.2, 3.0, 60)
    assert [h.id for h in keyword_heavy][:2] == ["b", "d"]


def test_keyword_index_follows_edits_deletions_and_forget(make_kit: Callable[..., Ragkit], corpus: Path) -> None:
    kit = make_kit()
    kit.ingest([corpus])
    assert keyword_ids(kit) == store_ids(kit)
    (corpus / "incident.md").write_text(INCIDENT_DOC.replace("ERR-7731", "ERR-9090"))
    (corpus / "faq.txt").unlink()
    kit.ingest([corpus])
    assert keyword_ids(kit) == store_ids(kit)
    assert not any("7731" in s.text for s in kit.search("ERR-7731", k=5, mode="bm25"))
    assert "ERR-9090" in kit.search("ERR-9090", k=1, mode="bm25")[0].text
    assert not any("Okafor" in s.text for s in kit.search("Okafor product owner", k=5, mode="bm25"))
    kit.forget([corpus / "team"])
    assert keyword_ids(kit) == store_ids(kit)
    assert not any("August" in s.text for s in kit.search("annual leave August", k=5, mode="bm25"))


def test_an_index_built_before_keyword_search_warns_then_fills_without_reembedding(
    make_kit: Callable[..., Ragkit], counting: CountingEmbedder, corpus: Path, caplog: pytest.LogCaptureFixture
) -> None:
    make_kit().ingest([corpus])
    kit = make_kit(embedder=counting)
    db = sqlite3.connect(kit.index_dir / "manifest.sqlite3")
    with db:  # what an index written by the previous ragkit looks like
        db.execute("DELETE FROM chunks_fts")
        db.execute("DELETE FROM chunks")
        db.execute("UPDATE files SET signature = replace(signature, '4:', '3:')")
    db.close()
    with caplog.at_level(logging.WARNING, logger="ragkit"):
        assert kit.search("annual leave", k=2)  # still answers, from vectors
    assert "not in the keyword (BM25) index yet" in caplog.text
    report = kit.ingest([corpus])
    assert report.chunks_embedded == 0
    assert keyword_ids(kit) == store_ids(kit)
    assert Path(kit.search("ERR-7731", k=1, mode="bm25")[0].path).name == "incident.md"


def test_where_filters_by_path_glob_type_and_date_in_both_retrievers(
    make_kit: Callable[..., Ragkit], corpus: Path
) -> None:
    old = datetime(2020, 1, 1).timestamp()
    os.utime(corpus / "faq.txt", (old, old))
    kit = make_kit()
    kit.ingest([corpus])
    question = "Who owns the service and how often are keys rotated?"
    for mode in ("hybrid", "dense", "bm25"):
        only_txt = kit.search(question, k=5, where=["type=txt"], mode=mode)
        assert only_txt and {Path(s.path).name for s in only_txt} == {"faq.txt"}
        in_team = kit.search(question, k=5, where=Where(paths=("team/*",)), mode=mode)
        assert {Path(s.path).name for s in in_team} <= {"people.md"}
    recent = kit.search(question, k=10, where=["after=2021-01-01"])
    assert recent and "faq.txt" not in {Path(s.path).name for s in recent}
    before = kit.search(question, k=10, where=["before=2021-01-01", "type=markdown,txt"])
    assert {Path(s.path).name for s in before} == {"faq.txt"}
    assert kit.search(question, where=["path=*.pdf"]) == []
    with pytest.raises(ConfigError, match="cannot read --where"):
        kit.search(question, where=["colour=blue"])


def test_near_identical_passages_are_shown_once(make_kit: Callable[..., Ragkit], tmp_path: Path) -> None:
    root = write_docs(tmp_path / "docs", {"a/ops.md": KEYS_DOC, "b/ops-copy.md": KEYS_DOC + "\nCopied.\n"})
    kit = make_kit()
    kit.ingest([root])
    texts = [s.text for s in kit.search("how often are API keys rotated", k=4)]
    assert sum("45 days" in t for t in texts) == 1
    undeduped = make_kit(dedupe=False).search("how often are API keys rotated", k=4)
    assert sum("45 days" in s.text for s in undeduped) == 2


def test_mmr_trades_relevance_for_variety(make_kit: Callable[..., Ragkit], tmp_path: Path) -> None:
    docs = {
        "a.md": "# Backups\n\nBackups of the database run every night at 02:30 UTC.",
        "b.md": "# Nightly backup\n\nEach night at half past two UTC the database backup job runs.",
        "c.md": "# Restores\n\nRestoring from a backup is rehearsed by the on-call engineer each month.",
    }
    kit = make_kit()
    kit.ingest([write_docs(tmp_path / "docs", docs)])
    plain = [Path(s.path).name for s in kit.search("when does the database backup run?", k=3)]
    assert plain[2] == "c.md"  # the two restatements rank first
    varied = [Path(s.path).name for s in make_kit(mmr_lambda=0.3).search("when does the database backup run?", k=3)]
    assert varied[1] == "c.md"  # the different passage moves up


def _tiny_cross_encoder(folder: Path, model_dir: Path) -> Path:
    """A randomly initialised BERT cross-encoder with MiniLM's tokenizer: no
    reranker weights can be downloaded here, and the plumbing is what is tested."""
    import shutil

    from transformers import BertConfig, BertForSequenceClassification

    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=1
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if (model_dir / name).is_file():
            shutil.copy(model_dir / name, folder / name)
    return folder


def test_cross_encoder_reranks_the_fused_candidates(
    make_kit: Callable[..., Ragkit], corpus: Path, tmp_path: Path, embedder
) -> None:  # type: ignore[no-untyped-def]
    reranker_dir = _tiny_cross_encoder(tmp_path / "reranker", embedder.model_dir)
    kit = make_kit(rerank_model=str(reranker_dir))
    assert kit.reranker is not None  # "auto" uses a model that is on disk
    kit.ingest([corpus])
    results = kit.search("how often are keys rotated", k=4)
    scores = [s.retrieval.rerank_score for s in results if s.retrieval]
    assert len(scores) == 4 and all(s is not None for s in scores)
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert [s.score for s in results] == scores  # the score shown is the reranker's


def test_reranker_is_off_when_its_model_is_missing_unless_required(make_kit: Callable[..., Ragkit]) -> None:
    assert make_kit(rerank_model="nobody/no-such-reranker").reranker is None
    assert make_kit(rerank="off").reranker is None
    with pytest.raises(ModelNotFoundError, match="not on disk and ragkit is offline"):
        _ = make_kit(rerank="on", rerank_model="nobody/no-such-reranker").reranker


def _source(number: int, path: str, chunk: int, lines: tuple[int, int]) -> Source:
    return Source(number, path, lines[0], lines[1], 0.5, f"text {chunk}", chunk=chunk)


def test_neighbouring_chunks_of_a_file_become_one_passage() -> None:
    sources = [
        _source(1, "a.md", 4, (30, 39)),
        _source(2, "b.md", 0, (1, 9)),
        _source(3, "a.md", 3, (20, 29)),
        _source(4, "a.md", 5, (40, 49)),
        _source(5, "a.md", 9, (90, 99)),
    ]
    merged = merge_neighbours(sources)
    assert [(m.number, m.path, m.start_line, m.end_line) for m in merged] == [
        (1, "a.md", 20, 49),
        (2, "b.md", 1, 9),
        (3, "a.md", 90, 99),
    ]
    assert merged[0].text == "text 3\ntext 4\ntext 5"
