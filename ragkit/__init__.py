"""ragkit: private answers from your own documents with phi-3-mini.

The public surface is what `__all__` lists; heavy dependencies (torch,
chromadb, llama_cpp) load only when first needed."""

from __future__ import annotations

from ragkit.answers import Answer, AnswerStream, Source
from ragkit.chat import Chat, Turn
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
from ragkit.filters import Where
from ragkit.ingest import ForgetReport, IndexStatus, IngestProgress, IngestReport, SkippedFile
from ragkit.kit import Ragkit
from ragkit.models import REGISTRY, DownloadProgress, ModelSpec
from ragkit.retrieval import Retrieval

__version__ = "0.1.0"

__all__ = [
    "REGISTRY",
    "Answer",
    "AnswerStream",
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
    "Where",
    "__version__",
]
