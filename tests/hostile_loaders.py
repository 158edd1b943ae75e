"""Loader plugins that misbehave the ways real parsers do, for the parser
isolation tests (`loaders = ["tests.hostile_loaders"]`): raise a surprise
exception, never return, allocate without bound, or kill their own process
with a real signal. Each claims its own suffix, so the rest of a folder is
read by the real loaders."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ragkit.indexers.base import Document, LoadContext


class _Hostile:
    kind = "hostile"
    suffixes: frozenset[str] = frozenset()
    version = 1


class RaisingLoader(_Hostile):
    suffixes = frozenset({".boom"})

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        raise ValueError("no tc element at grid_offset=1")


class HangingLoader(_Hostile):
    suffixes = frozenset({".hang"})

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        while True:
            time.sleep(1)


class HoggingLoader(_Hostile):
    suffixes = frozenset({".hog"})

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        hoard = []
        while True:
            hoard.append(bytearray(64 * 1024 * 1024))


class CrashingLoader(_Hostile):
    suffixes = frozenset({".crash"})

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(10)
        raise AssertionError("still alive")


LOADERS = (RaisingLoader(), HangingLoader(), HoggingLoader(), CrashingLoader())
