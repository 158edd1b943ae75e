"""Embedding without torch: ONNX Runtime copies of the real all-MiniLM-L6-v2.
The int8 copy embeds documents and questions of new indexes (the default
runtime); the fp32 copy embeds the questions of indexes torch embedded."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ragkit import Ragkit
from ragkit.config import Settings
from ragkit.embedders import OnnxEmbedder, SentenceTransformerEmbedder, export_onnx, export_onnx_int8, onnx_path
from ragkit.errors import IndexFormatError
from tests.conftest import write_docs

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_onnx_copy_embeds_like_the_model(embedder: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    path = onnx_path(tmp_path, embedder)
    assert export_onnx(embedder, path) and path.is_file()
    onnx = OnnxEmbedder(path, embedder.model_dir, embedder.model_id, embedder.max_tokens)
    texts = ["How are API keys rotated?", "Backups run nightly at 02:30 UTC.", "x" * 5000, "Grüße aus Köln"]
    fp32 = SentenceTransformerEmbedder(embedder.model_id, offline=True, quantize="none")
    assert (onnx.embed(texts) * fp32.embed(texts)).sum(axis=1).min() > 0.999  # the same model
    assert (onnx.embed(texts) * embedder.embed(texts)).sum(axis=1).min() > 0.9  # the int8 one, on documents
    passages = ["API keys are rotated every 45 days.", "The cafeteria opens at eight.", "Backups are kept 35 days."]
    for question in ("how often do keys change?", "when can I eat breakfast?", "how long are backups kept?"):
        by_onnx = np.argsort(-(onnx.embed(passages) @ onnx.embed([question])[0]))
        by_model = np.argsort(-(embedder.embed(passages) @ embedder.embed([question])[0]))
        assert by_onnx[0] == by_model[0]


SEARCH_WITHOUT_TORCH = """
import sys
from ragkit import Ragkit
hits = Ragkit(offline=True).search("how often are API keys rotated?", k=1)
print(hits[0].path, "torch" in sys.modules)
"""


def test_after_an_ingest_a_search_needs_no_torch(cli: Cli, tmp_path: Path, data_dir: Path) -> None:
    docs = write_docs(tmp_path / "docs", {"ops.md": "API keys are rotated every 45 days.\n", "menu.md": "Soup.\n"})
    auto = {"RAGKIT_QUERY_EMBEDDER": "auto"}
    assert cli("ingest", str(docs), env=auto).returncode == 0
    assert list((data_dir / "models" / "onnx").glob("*/model.onnx"))
    result = subprocess.run(
        [sys.executable, "-c", SEARCH_WITHOUT_TORCH], capture_output=True, text=True, timeout=300,
        env={"RAGKIT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    path, torch_loaded = result.stdout.split()
    assert path.endswith("ops.md") and torch_loaded == "False"
    search = cli("search", "how often are API keys rotated?", env=auto)
    assert search.returncode == 0 and "ops.md" in search.stdout


def test_int8_copy_ranks_like_the_model(embedder: SentenceTransformerEmbedder, tmp_path: Path) -> None:
    path = export_onnx_int8(embedder, tmp_path)
    assert (
        path is not None and path.is_file() and path.stat().st_size < onnx_path(tmp_path, embedder).stat().st_size / 3
    )
    int8 = OnnxEmbedder(path, embedder.model_dir, embedder.model_id, embedder.max_tokens, runtime="onnx-int8")
    texts = ["How are API keys rotated?", "Backups run nightly at 02:30 UTC.", "x" * 5000, "Grüße aus Köln"]
    fp32 = SentenceTransformerEmbedder(embedder.model_id, offline=True, quantize="none")
    assert (int8.embed(texts) * fp32.embed(texts)).sum(axis=1).min() > 0.97
    passages = ["API keys are rotated every 45 days.", "The cafeteria opens at eight.", "Backups are kept 35 days."]
    for question, best in (("how often do keys change?", 0), ("when can I eat?", 1), ("how long are backups kept?", 2)):
        assert int(np.argmax(int8.embed(passages) @ int8.embed([question])[0])) == best


INGEST_AND_SEARCH = """
import sys
from pathlib import Path
from ragkit import Ragkit
kit = Ragkit(offline=True)
report = kit.ingest([sys.argv[1]])
hits = kit.search("how often are API keys rotated?", k=1)
print(report.chunks_embedded, Path(hits[0].path).name, type(kit.embedder).__name__, "torch" in sys.modules)
"""


def test_default_runtime_ingests_and_searches_without_torch(
    tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = write_docs(tmp_path / "docs", {"ops.md": "API keys are rotated every 45 days.\n", "menu.md": "Soup.\n"})
    env = {"RAGKIT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}

    def run() -> list[str]:
        result = subprocess.run(
            [sys.executable, "-c", INGEST_AND_SEARCH, str(docs)], capture_output=True, text=True, timeout=300, env=env
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""  # nothing printed by the libraries underneath
        return result.stdout.split()

    # The first run makes the int8 copy (with torch, once); the index records the runtime.
    assert run()[1:3] == ["ops.md", "OnnxEmbedder"]
    assert list((data_dir / "models" / "onnx").glob("*/model.int8.onnx"))
    (docs / "ops.md").write_text("API keys are rotated every 30 days, the root key yearly.\n")
    embedded, path, embedder, torch_loaded = run()
    assert (embedded, path, embedder, torch_loaded) == ("1", "ops.md", "OnnxEmbedder", "False")
    with Ragkit(offline=True, data_dir=data_dir) as kit:
        assert kit._open_store(create=False).embed_runtime == "onnx-int8"  # type: ignore[attr-defined]
    # Where the ONNX copy cannot be had, torch must not add its vectors to this index: a clear error instead.
    monkeypatch.setattr("ragkit.kit._onnx_available", lambda: False)
    (docs / "menu.md").write_text("Soup of the day: lentils.\n")
    with Ragkit(offline=True, data_dir=data_dir) as kit, pytest.raises(IndexFormatError, match="pip install onnx"):
        kit.ingest([docs])
    with Ragkit(offline=True, data_dir=data_dir, embed_runtime="torch", query_embedder="torch") as kit:
        assert kit.chunk_count() == 2  # nothing was written


def test_an_index_keeps_the_runtime_it_was_built_with(settings: Settings, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs", {"ops.md": "API keys are rotated every 45 days.\n"})
    with Ragkit(settings=settings) as kit:  # built by torch (the test settings)
        kit.ingest([docs])
    write_docs(docs, {"menu.md": "Soup of the day: lentils.\n"})
    with Ragkit(settings=settings.replace(embed_runtime="onnx")) as kit:
        kit.ingest([docs])  # torch vectors and ONNX vectors never mix in one index
        assert isinstance(kit.embedder, SentenceTransformerEmbedder)
        assert kit.search("soup", k=1)[0].path.endswith("menu.md")
        kit.delete_index()  # what ingest --reindex does
        kit.ingest([docs])
        assert isinstance(kit.embedder, OnnxEmbedder)
        assert kit._open_store(create=False).embed_runtime == "onnx-int8"  # type: ignore[attr-defined]
        assert kit.search("how often are keys rotated?", k=1)[0].path.endswith("ops.md")
