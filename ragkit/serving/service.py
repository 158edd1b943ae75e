"""What `ragkit serve` and `ragkit mcp` share: the indexes they answer from,
how many answers may run or wait for the LLM, background ingest jobs, and
which folders clients may ingest. Plain library code: no HTTP in here, so
the HTTP and MCP adapters stay as thin as the CLI."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragkit.cancel import CancelToken
from ragkit.config import Settings
from ragkit.errors import ConfigError, NoMatchError, RagkitError

if TYPE_CHECKING:
    from ragkit.answering.llm import LLM
    from ragkit.answers import Answer, AnswerStream, Source
    from ragkit.embedders import Embedder
    from ragkit.ingest import IngestProgress
    from ragkit.kit import Ragkit
    from ragkit.retrieval.filters import Where

log = logging.getLogger(__name__)

MODEL_PREFIX = "ragkit:"


class QueueFullError(RagkitError):
    """More answers are running and waiting than the LLM's slots and queue hold."""

    exit_code = 10

    def __init__(self, message: str, hint: str | None = None, *, retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__(message, hint)


class IngestRefusedError(RagkitError):
    """A client asked to ingest where the server may not read."""

    exit_code = 11


class AnswerAdmission:
    """At most `slots` answers run at once and `queue` more wait, in arrival order (the LLM's own turn queue
    keeps the order); anything beyond is refused at once, so a crowd of clients never piles up unbounded
    waits on one laptop model."""

    def __init__(self, slots: int, queue: int) -> None:
        self.capacity = slots + queue
        self.slots = slots
        self._lock = threading.Lock()
        self._in_flight = 0
        self._seconds = 20.0  # a first guess at one answer's length, refined by each finished answer
        self.finished = 0
        self.stopped = 0
        """Answers stopped before the model finished (their client went away)."""
        self.refused = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def enter(self) -> Callable[..., None]:
        """Take a place, or raise QueueFullError with the seconds to wait before retrying; call the returned
        function (stopped=True if the answer was cut short) once the answer has ended; twice is harmless."""
        with self._lock:
            if self._in_flight >= self.capacity:
                self.refused += 1
                retry = max(1, round(self._seconds * (self._in_flight - self.slots + 1) / self.slots))
                raise QueueFullError(
                    f"the model is busy: {self._in_flight} answers are running or waiting",
                    f"retry after {retry} s",
                    retry_after=retry,
                )
            self._in_flight += 1
        started = time.monotonic()
        released = threading.Event()

        def leave(stopped: bool = False) -> None:
            if released.is_set():
                return
            released.set()
            with self._lock:
                self._in_flight -= 1
                self.finished += 1
                self.stopped += stopped
                self._seconds = 0.8 * self._seconds + 0.2 * (time.monotonic() - started)

        return leave


@dataclass
class IngestJob:
    """One background ingest: its progress events, and its report or error when it ends."""

    id: str
    index: str
    paths: list[str]
    state: str = "running"
    """"running", "done", "stopped" or "failed"."""
    events: list[dict[str, Any]] = field(default_factory=list)
    report: dict[str, Any] | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    finished: float | None = None
    cancel: CancelToken = field(default_factory=CancelToken, repr=False)
    changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "index": self.index, "paths": self.paths, "state": self.state,
            "progress": self.events[-1] if self.events else None, "report": self.report, "error": self.error,
            "started": self.started, "finished": self.finished,
        }  # fmt: skip

    def events_after(self, seen: int, timeout: float) -> tuple[list[dict[str, Any]], bool]:
        """Events beyond the first `seen`, waiting up to `timeout` for one; and whether the job has ended."""
        with self.changed:
            if len(self.events) <= seen and self.state == "running":
                self.changed.wait(timeout)
            return self.events[seen:], self.state != "running"

    def _add(self, event: dict[str, Any], state: str | None = None) -> None:
        with self.changed:
            self.events.append(event)
            if state is not None:
                self.state = state
                self.finished = time.time()
            self.changed.notify_all()


class Service:
    """The indexes a server answers from, sharing one LLM; admission to it; ingest jobs and roots."""

    def __init__(self, settings: Settings, *, embedder: Embedder | None = None) -> None:
        """`embedder`: one already loaded (an app's, a test's), used by every index."""
        self.settings = settings
        self._embedder = embedder
        self.admission = AnswerAdmission(settings.llm_slots, settings.answer_queue)
        self._kits: dict[str, Ragkit] = {}
        self._lock = threading.Lock()
        self._jobs: dict[str, IngestJob] = {}
        self._job_numbers = itertools.count(1)
        self.roots = [Path(r).expanduser().resolve() for r in settings.ingest_roots]

    # -- indexes --------------------------------------------------------------

    def index_names(self) -> list[str]:
        """The served index first, then every other index in the data folder."""
        folder = self.settings.data_dir / "indexes"
        others = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
        return list(dict.fromkeys([self.settings.index, *others]))

    def kit(self, index: str | None = None, *, create: bool = False) -> Ragkit:
        """The Ragkit for `index` (default: the served one); all share the first one's LLM. An index
        not in the data folder is NoMatchError unless `create` (an ingest makes it)."""
        from ragkit.kit import Ragkit

        name = index or self.settings.index
        with self._lock:
            if name in self._kits:
                return self._kits[name]
            if not create and name not in self.index_names():
                raise NoMatchError(f"no index named {name!r}", f"indexes here: {', '.join(self.index_names())}")
            kit = Ragkit(settings=self.settings, index=name, llm=self._shared_llm(), embedder=self._embedder)
            self._kits[name] = kit
            return kit

    def _shared_llm(self) -> LLM | None:
        """The LLM the first kit made, if it made one: one model in memory for every index."""
        return next((kit.built_llm for kit in self._kits.values() if kit.built_llm is not None), None)

    def index_of_model(self, model: str | None) -> str:
        """`ragkit:notes` → `notes`; an empty or unknown-style name means the served index."""
        if model and model.startswith(MODEL_PREFIX):
            return model[len(MODEL_PREFIX) :]
        return self.settings.index

    def close(self) -> None:
        for job in list(self._jobs.values()):
            job.cancel.cancel()
        for kit in self._kits.values():
            kit.close()

    # -- answers --------------------------------------------------------------

    def answer_stream(
        self,
        messages: list[dict[str, str]],
        *,
        index: str | None = None,
        where: Where | Iterable[str] | None = None,
        cancel: CancelToken | None = None,
    ) -> AnswerStream:
        """The answer to the last user message, the earlier ones being the conversation (see Chat)."""
        from ragkit.answering.chat import Chat

        try:
            chat, question = Chat.from_messages(self.kit(index), messages, where=where)
        except ValueError as exc:
            raise ConfigError(str(exc), "end the messages with a user message") from exc
        return chat.ask_stream(question, cancel=cancel)

    # -- ingest ---------------------------------------------------------------

    def allowed_paths(self, paths: Iterable[str]) -> list[Path]:
        """The paths resolved (symlinks followed), each inside an ingest root; IngestRefusedError otherwise."""
        if not self.roots:
            raise IngestRefusedError("ingesting through the server is off", "start it with --ingest-root FOLDER")
        allowed = []
        for given in paths:
            resolved = Path(given).expanduser().resolve()
            if not any(resolved.is_relative_to(root) for root in self.roots):
                raise IngestRefusedError(
                    f"{given}: outside the folders this server may ingest",
                    f"ingest under {', '.join(map(str, self.roots))}, or add an --ingest-root",
                )
            if not resolved.exists():
                raise NoMatchError(f"{given}: no such file or folder", "check the path on the server")
            allowed.append(resolved)
        if not allowed:
            raise ConfigError("no path given", "pass at least one file or folder")
        return allowed

    def start_ingest(self, paths: Iterable[str], index: str | None = None) -> IngestJob:
        """Ingest in the background; follow it with `job` and `IngestJob.events_after`."""
        allowed = self.allowed_paths(paths)
        kit = self.kit(index, create=True)
        job = IngestJob(f"ingest-{next(self._job_numbers)}", kit.settings.index, [str(p) for p in allowed])
        self._jobs[job.id] = job

        def on_progress(p: IngestProgress) -> None:
            job._add({"phase": p.phase, "files_done": p.files_done, "files_total": p.files_total,
                      "chunks_embedded": p.chunks_embedded, "path": p.path, "note": p.note})  # fmt: skip

        def run() -> None:
            try:
                report = kit.ingest(allowed, on_progress, cancel=job.cancel)
            except RagkitError as exc:
                job.error = str(exc)
                job._add({"phase": "failed", "error": job.error}, "failed")
            except Exception as exc:  # a job's thread must record every failure: nobody else sees it
                log.exception("ingest job %s failed", job.id)
                job.error = f"unexpected {exc.__class__.__name__}: {exc}"
                job._add({"phase": "failed", "error": job.error}, "failed")
            else:
                job.report = report.to_dict()
                state = "stopped" if report.stopped else "done"
                job._add({"phase": state, "report": job.report}, state)

        threading.Thread(target=run, name=f"ragkit-{job.id}", daemon=True).start()
        return job

    def job(self, job_id: str) -> IngestJob:
        try:
            return self._jobs[job_id]
        except KeyError:
            raise NoMatchError(f"no ingest job {job_id!r}", "start one with POST /api/ingest") from None


def is_loopback(host: str) -> bool:
    """Only this machine can reach an address: localhost, 127.0.0.0/8, ::1."""
    import ipaddress

    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, api_key: str | None) -> None:
    """Listening beyond this machine needs an API key: documents are private."""
    if not is_loopback(host) and not api_key:
        raise ConfigError(
            f"refusing to listen on {host} without an API key: anyone on the network could read your documents",
            "set --api-key or RAGKIT_API_KEY, or keep --host 127.0.0.1",
        )


def check_port(host: str, port: int) -> None:
    """The address is free to listen on; a clear error now rather than after the startup banner."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror or exc}", "pick another --port, or stop what uses it"
            ) from exc


def source_dict(source: Source, cited: bool | None = None) -> dict[str, Any]:
    """A passage as servers show it: where it is (lines or pages), how well it matched, its text."""
    data: dict[str, Any] = {
        "number": source.number, "path": source.path, "location": _location(source),
        "start_line": source.start_line, "end_line": source.end_line, "page": source.page,
        "end_page": source.end_page, "kind": source.kind, "headings": source.headings, "score": source.score,
        "text": source.text,
    }  # fmt: skip
    if cited is not None:
        data["cited"] = cited
    if source.retrieval is not None:
        data["retrieval"] = asdict(source.retrieval)
    return data


def _location(source: Source) -> str:
    """`/docs/keys.md:12-30`, `/manual.pdf p. 4`: the full path, whatever the server's working folder."""
    relative = source.location(Path("/"))
    return "/" + relative if source.path.startswith("/") and not relative.startswith("/") else relative


def answer_extension(answer: Answer) -> dict[str, Any]:
    """The `ragkit` object servers attach to an answer: every passage the model was given, which ones the
    answer cites (citations checked against them), and whether the documents held the answer."""
    return {
        "sources": [source_dict(s, s.number in answer.cited) for s in answer.sources],
        "found": answer.found,
        "invalid_citations": answer.invalid_citations,
        "not_found_reason": answer.not_found_reason,
        "stopped": answer.stopped,
        "cached": answer.cached,
        "warning": answer.warning,
    }
