"""The query embedder without torch: an ONNX Runtime copy of the real
all-MiniLM-L6-v2, checked against the vectors ingest stores."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ragkit.embedders import OnnxEmbedder, SentenceTransformerEmbedder, export_onnx, onnx_path
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
