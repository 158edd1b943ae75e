"""Parsers run in separate processes, so that a file which hangs a parser,
exhausts memory (a decompression bomb) or crashes the interpreter (a fault in
a native parser such as PDFium) costs that file and nothing else.

`ParserPool` (the ingest's side) hands one file at a time to each worker
process and waits for its answer. A worker that shows no progress for
`seconds` is killed; one that dies is replaced; each runs under a memory
limit. The worker is `python -m ragkit.indexers.sandbox FD`, talking over a
socket pair: a plain subprocess, not multiprocessing, so an application that
embeds ragkit never has its own main module re-imported in the workers."""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from ragkit.cancel import CancelToken
from ragkit.errors import DocumentError
from ragkit.indexers.base import Document

log = logging.getLogger(__name__)

NoteCallback = Callable[[str], None]
# How often the ingest side checks a silent worker (time limit, death).
_POLL_SECONDS = 0.2


@dataclass(frozen=True)
class ParserConfig:
    """What a worker process needs to parse like the ingest would."""

    plugins: tuple[str, ...] = ()
    """Modules whose LOADERS add or replace formats (the `loaders` setting)."""
    seconds: float = 120.0
    """A parser that shows no progress on one file for this long is stopped."""
    memory_mb: int = 2048
    """Memory a parser may use on top of what the worker needs at rest."""
    ocr: str = "auto"
    ocr_dpi: int = 300
    ocr_threads: int | None = None
    sys_path: tuple[str, ...] = field(default_factory=lambda: tuple(sys.path))


class _WorkerLost(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class ParserProcess:
    """One worker process and the ingest's end of its socket."""

    def __init__(self, config: ParserConfig) -> None:
        self.config = config
        ours, theirs = socket.socketpair()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        env = dict(os.environ)
        env.setdefault("OMP_NUM_THREADS", str(config.ocr_threads or os.cpu_count() or 1))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ragkit.indexers.sandbox", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,  # a chatty parser never reaches the user's terminal
                stderr=self._stderr,
                start_new_session=True,  # Ctrl-C reaches the ingest, which stops the workers itself
                env=env,
            )
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        self.conn.send(config)
        self.files = 0

    def parse(self, path: Path, data: bytes, on_note: NoteCallback, cancel: CancelToken | None = None) -> Document:
        self.files += 1
        try:
            self.conn.send((str(path), data))
        except (OSError, EOFError):
            raise _WorkerLost(self._death_reason()) from None
        last_sign = time.monotonic()
        while True:
            try:
                ready = self.conn.poll(_POLL_SECONDS)
                message = self.conn.recv() if ready else None
            except (EOFError, OSError, pickle.UnpicklingError):
                raise _WorkerLost(self._death_reason()) from None
            now = time.monotonic()
            if cancel is not None and cancel.cancelled:
                self.kill()  # the ingest stops now, not when this file is done
                raise _WorkerLost("stopped")
            if message is None:
                if self.process.poll() is not None:
                    raise _WorkerLost(self._death_reason())
                if now - last_sign > self.config.seconds:
                    self.kill()
                    raise _WorkerLost(
                        f"took longer than {self.config.seconds:.0f} s without progress "
                        "(raise parse_timeout to give it more time)"
                    )
                continue
            kind, payload = message
            if kind == "note":
                last_sign = now
                on_note(str(payload))
            elif kind == "done":
                return payload  # type: ignore[no-any-return]
            elif kind == "failed":
                raise DocumentError(str(path), str(payload))
            elif kind == "memory":
                self.kill()  # a MemoryError may leave the interpreter in a poor state: start afresh
                raise _WorkerLost(f"needed more than {self.config.memory_mb} MB of memory (parse_memory_mb)")

    def _death_reason(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            code = self.process.wait()
        detail = self._last_stderr_line()
        reason = f"parser crashed ({_signal_name(-code)})" if code < 0 else f"parser process exited with code {code}"
        return f"{reason}: {detail}" if detail else reason

    def _last_stderr_line(self) -> str:
        try:
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - 4096))
            lines = [line.strip() for line in self._stderr.read().decode(errors="replace").splitlines()]
        except OSError:
            return ""
        lines = [line for line in lines if line and not line.startswith(("File ", "Traceback", "Current thread"))]
        return lines[-1][:160] if lines else ""

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)

    def close(self) -> None:
        with contextlib.suppress(OSError, EOFError, BrokenPipeError):
            self.conn.send(None)
        try:
            self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.kill()
        with contextlib.suppress(OSError):
            self.conn.close()
        self._stderr.close()


def _close_all(processes: list[ParserProcess]) -> None:
    for worker in list(processes):
        worker.close()
    processes.clear()


class ParserPool:
    """Up to `workers` parser processes, started on first use and kept for the
    next files (and the next ingest) until `close()`. `parse` may be called
    from several threads: each call gets a worker of its own."""

    def __init__(self, config: ParserConfig | None = None, workers: int = 1) -> None:
        self.config = config or ParserConfig()
        self.workers = max(1, workers)
        self._idle: list[ParserProcess] = []
        self._all: list[ParserProcess] = []
        self._cond = threading.Condition()
        self._closed = False
        self._finalizer = weakref.finalize(self, _close_all, self._all)

    def parse(
        self, path: Path, data: bytes, on_note: NoteCallback | None = None, cancel: CancelToken | None = None
    ) -> Document:
        """Parse one file in a worker; DocumentError with the reason when it cannot be read
        (or when `cancel` stopped it)."""
        worker = self._checkout()
        healthy = False
        try:
            doc = worker.parse(path, data, on_note or (lambda _note: None), cancel)
            healthy = True
            return doc
        except DocumentError:
            healthy = True
            raise
        except _WorkerLost as lost:
            raise DocumentError(str(path), lost.reason) from None
        finally:
            self._checkin(worker, healthy)

    def _checkout(self) -> ParserProcess:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError("the parser pool is closed")
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive():
                        return worker
                    self._discard(worker)
                if len(self._all) < self.workers:
                    worker = ParserProcess(self.config)
                    self._all.append(worker)
                    return worker
                self._cond.wait()

    def _checkin(self, worker: ParserProcess, healthy: bool) -> None:
        with self._cond:
            if healthy and worker.alive() and not self._closed:
                self._idle.append(worker)
            else:
                self._discard(worker)
            self._cond.notify()

    def _discard(self, worker: ParserProcess) -> None:
        if worker in self._all:
            self._all.remove(worker)
        worker.close()

    def close(self) -> None:
        """Stop every worker (a busy one is killed)."""
        with self._cond:
            self._closed = True
            self._idle.clear()
            self._cond.notify_all()
        self._finalizer()


# -- the worker process -------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Linux: the kernel kills this worker when the ingest process dies, even by kill -9."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _limit_memory(megabytes: int) -> None:
    """Cap the data segment (heap and private mappings) at what the worker uses at
    rest plus the allowance: allocations past it fail with MemoryError."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return
    in_use = 0
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmData:"):
                in_use = int(line.split()[1]) * 1024
    limit = in_use + megabytes * 1024 * 1024
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


def _describe(exc: BaseException) -> str:
    message = " ".join(str(exc).split())
    if len(message) > 160 and not os.environ.get("RAGKIT_FULL_ERRORS"):
        message = message[:159] + "…"
    return f"{exc.__class__.__name__}: {message}" if message else exc.__class__.__name__


def serve(conn: Connection) -> None:
    """The worker's loop: receive (path, bytes), answer with the Document or the reason."""
    import warnings

    config: ParserConfig = conn.recv()
    sys.path[:] = list(config.sys_path)
    _die_with_parent()
    warnings.simplefilter("ignore")
    from ragkit.indexers import Loaders
    from ragkit.indexers.base import LoadContext, ParserServices

    services = ParserServices(ocr=config.ocr, ocr_dpi=config.ocr_dpi, ocr_threads=config.ocr_threads)
    try:
        loaders = Loaders(plugins=config.plugins)
    except Exception as exc:
        loaders = None
        plugin_error = _describe(exc)
    _limit_memory(config.memory_mb)
    try:
        while True:
            request = conn.recv()
            if request is None:
                return
            path, data = request
            if loaders is None:
                conn.send(("failed", f"loader plugins could not be loaded: {plugin_error}"))
                continue

            def note(text: str) -> None:
                conn.send(("note", text))

            try:
                doc = loaders.load(Path(path), data, LoadContext(note, services))
                del data
                conn.send(("done", doc))
            except DocumentError as exc:
                conn.send(("failed", exc.reason))
            except MemoryError:
                conn.send(("memory", ""))
                return
            except Exception as exc:  # any parser's own bug or surprise: that file is skipped, with its name
                if "bad_alloc" in str(exc):  # a native parser's allocation failed at the memory limit
                    conn.send(("memory", ""))
                    return
                conn.send(("failed", _describe(exc)))
    except (EOFError, OSError, KeyboardInterrupt):
        return
    finally:
        services.close()


def main(argv: list[str]) -> None:
    conn = Connection(int(argv[1]))
    serve(conn)


if __name__ == "__main__":
    main(sys.argv)
