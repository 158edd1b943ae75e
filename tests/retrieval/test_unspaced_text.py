"""Chinese and mixed text through the real pipeline: keyword search finds words inside runs of
characters without spaces, an index tokenized before bigrams is re-tokenized once without
re-embedding, chunks and pruning cut at 。, and the eval scores Chinese answers."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from ragkit import Ragkit
from ragkit.evaluation import QAItem, answer_in, contains_answer, normalize_answer, token_f1
from ragkit.indexers.base import Block, Document
from ragkit.indexers.chunking import Chunker
from ragkit.languages import keyword_text, keyword_tokens
from ragkit.retrieval.pruning import split_units
from tests.conftest import CountingEmbedder, write_docs

PHI3_ZH = """# Phi-3 模型简介

Phi-3-mini 是微软发布的小型语言模型，参数量为三十八亿。
它的词表 vocabulary大小为32064，上下文长度有四千和十二万八千两个版本。

## 训练数据

训练数据包括经过严格过滤的网页数据和合成数据，总量约三万三千亿个词元。模型在数学和推理任务上表现良好。
"""

CAKE_ZH = """# 蛋糕食谱

将黄油和糖搅拌均匀，加入鸡蛋和面粉。烤箱预热到一百八十度，烘烤二十五分钟。
"""

TRAIN_ZH = """# 火车时刻

开往上海的高速列车每天早上七点从北京南站出发，全程大约四个半小时。
"""


@pytest.fixture
def chinese_docs(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "zh", {"phi3.md": PHI3_ZH, "cake.md": CAKE_ZH, "train.md": TRAIN_ZH})


def test_bigrams_make_words_inside_unspaced_runs_findable() -> None:
    assert keyword_tokens("词表大小") == ["词表", "表大", "大小"]
    # Mixed text: Latin words stay words, the Chinese run between them becomes bigrams, a lone character stays.
    assert keyword_tokens("phi-3-mini 的词表 vocabulary大小为32064") == [
        "phi", "3", "mini", "的词", "词表", "vocabulary", "大小", "小为", "32064",
    ]  # fmt: skip
    assert keyword_tokens("中") == ["中"]
    assert keyword_tokens("ＡＰＩ　キー") == ["api", "キー"]  # full-width forms folded
    english = "How are API keys rotated?"
    assert keyword_text(english) == english
    assert keyword_text(keyword_text(PHI3_ZH)) == keyword_text(PHI3_ZH)


def test_chinese_questions_find_their_passage_by_keywords(make_kit: Callable[..., Ragkit], chinese_docs: Path) -> None:
    kit = make_kit()
    kit.ingest([chinese_docs])
    for question, wanted in [
        ("Phi-3-mini 的词表大小是多少？", "phi3.md"),
        ("烤箱要预热到多少度？", "cake.md"),
        ("去上海的列车几点出发？", "train.md"),
        ("训练数据有多少词元", "phi3.md"),
    ]:
        found = kit.search(question, k=1, mode="bm25")
        assert found and Path(found[0].path).name == wanted, question
        assert Path(kit.search(question, k=1)[0].path).name == wanted, question  # hybrid too


def test_an_index_tokenized_before_bigrams_is_retokenized_once_without_re_embedding(
    make_kit: Callable[..., Ragkit],
    chinese_docs: Path,
    counting: CountingEmbedder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    kit = make_kit(embedder=counting)
    kit.ingest([chinese_docs])
    manifest = kit.index_dir / "manifest.sqlite3"
    # Put the keyword index back as an older ragkit wrote it: each Chinese run one token, no analyzer mark.
    db = sqlite3.connect(manifest)
    rows = db.execute("SELECT rowid, text, meta FROM chunks").fetchall()
    db.execute("DELETE FROM chunks_fts")
    db.executemany("INSERT INTO chunks_fts (rowid, body) VALUES (?, ?)", [(r[0], r[1]) for r in rows])
    db.execute("DELETE FROM meta WHERE key='keyword_analyzer'")
    db.commit()
    db.close()
    embedded = len(counting.embedded)
    old = make_kit(embedder=counting)
    with caplog.at_level(logging.WARNING, logger="ragkit"):
        found = old.search("烤箱要预热到多少度？", k=1, mode="bm25")
    assert Path(found[0].path).name == "cake.md"
    notes = [r.getMessage() for r in caplog.records if "re-tokenizing" in r.getMessage()]
    assert len(notes) == 1 and f"{len(rows)} keyword-index chunks" in notes[0] and "re-embedded" in notes[0]
    assert len(counting.embedded) - embedded <= 1  # the question only: no chunk embedded again
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ragkit"):
        make_kit(embedder=counting).search("去上海的列车几点出发？", k=1, mode="bm25")
        report = make_kit(embedder=counting).ingest([chinese_docs])
    assert not [r for r in caplog.records if "re-tokenizing" in r.getMessage()]  # once only
    assert report.files_unchanged == 3 and report.chunks_embedded == 0


def test_chinese_chunks_and_pruning_units_end_at_full_stops(embedder: object) -> None:
    from ragkit.embedders import SentenceTransformerEmbedder

    assert isinstance(embedder, SentenceTransformerEmbedder)
    sentence = "这是一个关于模型训练的句子，它说明了数据的来源和处理方式。"
    paragraph = sentence * 12  # one line of 360 characters, more than a 64-token chunk
    doc = Document(path=Path("zh.md"), kind="markdown", blocks=[Block(text=paragraph, start_line=1, end_line=1)])
    chunks = Chunker(embedder.counter, max_tokens=64).chunk(doc)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.text.endswith("。") and chunk.text.startswith("这是")  # cut between sentences, not inside
        assert " " not in chunk.text  # pieces of one Chinese line join without a space
    text = "他说：“好。”然后走了。第二句！……第三句？ Fourth sentence. Fifth."
    units = [text[u.start : u.end] for u in split_units(text)]
    assert units == ["他说：“好。”", "然后走了。", "第二句！……", "第三句？", "Fourth sentence.", "Fifth."]


def test_eval_scores_chinese_answers_by_character() -> None:
    item = QAItem("词表大小是多少？", ("32064",), ())
    assert contains_answer("它的词表大小为32064，上下文长度为四千。", item)
    name = QAItem("谁发布了Phi-3？", ("微软",), ())
    assert contains_answer("Phi-3-mini 是微软发布的小型语言模型。", name)
    assert answer_in("由微软发布。", name)
    assert not contains_answer("由谷歌发布。", name)
    assert normalize_answer("《三体》，刘慈欣。") == "三 体 刘 慈 欣"
    assert token_f1("刘慈欣", ("刘慈欣著",)) == pytest.approx(2 * 1.0 * 0.75 / 1.75)
    # A free-form answer is judged by how much of its reference context a passage holds: for Chinese by
    # character pairs, since another paragraph shares most of its single characters.
    free = QAItem("公园在哪里？", ("在曼谷市中心，靠近火车站",), ("乍都节公园位于泰国的首都曼谷的乍都节县。",))
    assert contains_answer("乍都节公园位于泰国的首都曼谷的乍都节县，是一处公众游园地。", free)
    assert not contains_answer("曼谷是泰国的首都，公园位于县城，节日都热闹。", free)  # 93 % of its characters
    # English is scored as before.
    assert normalize_answer("The Denver Broncos!") == "denver broncos"
