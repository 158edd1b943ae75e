"""The reranker seam: a cross-encoder reads the question and each candidate
passage together and scores the pair, which ranks better than comparing
two separately computed vectors, at the cost of one forward pass per
passage (so it only reorders the top of the fused list)."""

from __future__ import annotations

import logging
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

from ragkit.errors import ModelNotFoundError

log = logging.getLogger(__name__)

RERANK_MODES = ("auto", "on", "off")


class Reranker(Protocol):
    model_id: str

    def score(self, query: str, texts: list[str]) -> list[float]:
        """One relevance score per text, higher is better."""
        ...


def find_reranker(name: str, *, mode: str, offline: bool) -> Path | None:
    """The model folder to rerank with, or None for no reranking. "auto" uses
    the model only if it is already on disk (a local folder or the Hugging
    Face cache); "on" downloads it when online, and fails clearly otherwise."""
    if mode == "off" or not name:
        return None
    path = Path(name).expanduser()
    if path.is_dir():
        return path
    if mode == "auto" and (path.is_absolute() or name.startswith((".", "~"))):
        return None  # a folder that is not there
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(name, local_files_only=True))
    except (LocalEntryNotFoundError, ValueError, OSError):
        pass
    except Exception:  # huggingface_hub raises several validation errors for odd names
        if mode == "auto":
            return None
        raise
    if mode == "auto":
        log.info("reranker %s is not on disk; reranking is off (rerank = 'on' downloads it)", name)
        return None
    if offline:
        raise ModelNotFoundError(
            f"reranker model {name!r} is not on disk and ragkit is offline",
            "set rerank_model to a cross-encoder folder, or rerank = 'auto'",
        )
    try:
        return Path(snapshot_download(name, etag_timeout=10))
    except Exception as exc:
        raise ModelNotFoundError(
            f"cannot download reranker model {name!r}: {exc.__class__.__name__}",
            "check the name and your connection, or set rerank = 'off'",
        ) from exc


class CrossEncoderReranker:
    """A sentence-transformers `CrossEncoder` on CPU, loaded on first use."""

    def __init__(self, model_dir: Path, *, model_id: str | None = None, batch_size: int = 16) -> None:
        self.model_dir = model_dir
        self.model_id = model_id or str(model_dir)
        self.batch_size = batch_size

    @cached_property
    def _model(self) -> Any:
        from sentence_transformers import CrossEncoder
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        log.info("loading reranker from %s", self.model_dir)
        return CrossEncoder(str(self.model_dir), device="cpu", local_files_only=True)

    def score(self, query: str, texts: list[str]) -> list[float]:
        if not texts:
            return []
        scores = self._model.predict(
            [(query, text) for text in texts], batch_size=self.batch_size, show_progress_bar=False
        )
        return [float(s) for s in scores]
