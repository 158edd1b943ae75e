"""Errors a user can act on. Each carries a one-line message that names the
thing at fault and, where there is one, the command or setting that fixes it."""

from __future__ import annotations


class RagkitError(Exception):
    """Base class: `str(error)` is the one line to show the user."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(f"{message} ({hint})" if hint else message)


class ConfigError(RagkitError):
    exit_code = 2


class ModelNotFoundError(RagkitError):
    exit_code = 3


class DownloadError(RagkitError):
    exit_code = 3


class EmptyIndexError(RagkitError):
    exit_code = 4


class NoMatchError(RagkitError):
    """The index has passages, but none from the files a filter allows."""

    exit_code = 4


class IndexLockedError(RagkitError):
    exit_code = 5


class IndexFormatError(RagkitError):
    """The index on disk was written by another version of Chroma or ragkit,
    or with another embedding model."""

    exit_code = 6


class ContextTooSmallError(RagkitError):
    exit_code = 7


class ContextMemoryError(RagkitError):
    """The context a prompt needs would not fit in free memory: refused
    before llama.cpp allocates it and the OS kills the process."""

    exit_code = 8

    def __init__(self, message: str, hint: str | None = None, *, n_ctx: int = 0, largest: int = 0) -> None:
        self.n_ctx = n_ctx
        self.largest = largest
        super().__init__(message, hint)


class DocumentError(RagkitError):
    """One file could not be indexed; ingest skips it and carries on."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")
