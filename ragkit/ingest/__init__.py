"""Ingest: find files, parse them, chunk, embed and record what was indexed.

`pipeline` runs an ingest (incremental and crash-safe); `manifest` is the
per-index SQLite record of files, chunks and the keyword index."""

from __future__ import annotations

from ragkit.ingest.pipeline import (
    ForgetReport,
    IndexStatus,
    Ingestor,
    IngestProgress,
    IngestReport,
    ProgressCallback,
    SkippedFile,
    chunk_id,
    index_status,
    text_hash,
)

__all__ = [
    "ForgetReport",
    "IndexStatus",
    "IngestProgress",
    "IngestReport",
    "Ingestor",
    "ProgressCallback",
    "SkippedFile",
    "chunk_id",
    "index_status",
    "text_hash",
]
