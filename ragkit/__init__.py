"""ragkit: private answers from your own documents with phi-3-mini.

The public surface is what `__all__` lists. Names are imported on first use
(PEP 562), so `import ragkit` and `ragkit --help` pay for nothing a caller
does not touch; heavy dependencies (torch, chromadb, llama_cpp) load only
when first needed."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "Answer": "ragkit.answers",
    "AnswerStream": "ragkit.answers",
    "Source": "ragkit.answers",
    "CancelToken": "ragkit.cancel",
    "Chat": "ragkit.answering.chat",
    "Turn": "ragkit.answering.chat",
    "Settings": "ragkit.config",
    "ContextMemoryError": "ragkit.errors",
    "ContextTooSmallError": "ragkit.errors",
    "DocumentError": "ragkit.errors",
    "DownloadError": "ragkit.errors",
    "EmptyIndexError": "ragkit.errors",
    "IndexFormatError": "ragkit.errors",
    "IndexLockedError": "ragkit.errors",
    "ModelNotFoundError": "ragkit.errors",
    "NoMatchError": "ragkit.errors",
    "RagkitError": "ragkit.errors",
    "Where": "ragkit.retrieval.filters",
    "ForgetReport": "ragkit.ingest",
    "IndexStatus": "ragkit.ingest",
    "IngestProgress": "ragkit.ingest",
    "IngestReport": "ragkit.ingest",
    "SkippedFile": "ragkit.ingest",
    "WatchSummary": "ragkit.ingest.watch",
    "WatchUpdate": "ragkit.ingest.watch",
    "Ragkit": "ragkit.kit",
    "REGISTRY": "ragkit.models",
    "DownloadProgress": "ragkit.models",
    "ModelSpec": "ragkit.models",
    "Retrieval": "ragkit.retrieval.retriever",
}

__all__ = [
    "REGISTRY",
    "Answer",
    "AnswerStream",
    "CancelToken",
    "Chat",
    "ContextMemoryError",
    "ContextTooSmallError",
    "DocumentError",
    "DownloadError",
    "DownloadProgress",
    "EmptyIndexError",
    "ForgetReport",
    "IndexFormatError",
    "IndexLockedError",
    "IndexStatus",
    "IngestProgress",
    "IngestReport",
    "ModelNotFoundError",
    "ModelSpec",
    "NoMatchError",
    "Ragkit",
    "RagkitError",
    "Retrieval",
    "Settings",
    "SkippedFile",
    "Source",
    "Turn",
    "WatchSummary",
    "WatchUpdate",
    "Where",
    "__version__",
]

if TYPE_CHECKING:
    from ragkit.answering.chat import Chat, Turn
    from ragkit.answers import Answer, AnswerStream, Source
    from ragkit.cancel import CancelToken
    from ragkit.config import Settings
    from ragkit.errors import (
        ContextMemoryError,
        ContextTooSmallError,
        DocumentError,
        DownloadError,
        EmptyIndexError,
        IndexFormatError,
        IndexLockedError,
        ModelNotFoundError,
        NoMatchError,
        RagkitError,
    )
    from ragkit.ingest import ForgetReport, IndexStatus, IngestProgress, IngestReport, SkippedFile
    from ragkit.ingest.watch import WatchSummary, WatchUpdate
    from ragkit.kit import Ragkit
    from ragkit.models import REGISTRY, DownloadProgress, ModelSpec
    from ragkit.retrieval.filters import Where
    from ragkit.retrieval.retriever import Retrieval


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ragkit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return __all__
