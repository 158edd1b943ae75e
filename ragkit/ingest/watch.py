"""Keep an index in sync with folders as they change: `ragkit watch`, `Ragkit.watch()`.

File-system events (watchfiles: inotify, FSEvents, ReadDirectoryChangesW) start
an ingest once the folder has been quiet for `settle` seconds, so a burst of
saves or a thousand files dropped at once become one ingest, and a file being
written is read after it stopped changing. The ingest itself is incremental: a
file whose size and time did not change is not read, an edited file re-embeds
only its changed chunks, moved text is found by its hash and not embedded
again, deleted files leave the index, and a file that failed is only read again
once it changes. Because events get lost (network drives, sleep, queue
overflow), there is a catch-up ingest on start and a full rescan every
`rescan_every` seconds. Events under ragkit's own data folder are ignored."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ragkit.cancel import CancelToken
from ragkit.errors import RagkitError
from ragkit.ingest.pipeline import IngestReport, SkippedFile

log = logging.getLogger(__name__)

MAX_DELAY = 30.0
"""Seconds a change may wait while the folder never goes quiet (a log file appended to forever)."""


@dataclass(frozen=True)
class WatchUpdate:
    """One sync of the index with the folders."""

    reason: str
    """"start" (catch-up for what changed while not watching), "events" or "rescan"."""
    added: list[str]
    changed: list[str]
    removed: list[str]
    failed: list[SkippedFile]
    report: IngestReport | None
    events: int = 0
    """File-system events this sync answered."""
    error: str | None = None
    """Why the sync could not run (e.g. another process is ingesting); it is tried again."""


@dataclass
class WatchSummary:
    """Totals of a watch, returned when it is stopped."""

    syncs: int = 0
    added: int = 0
    changed: int = 0
    removed: int = 0
    failed: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


WatchCallback = Callable[[WatchUpdate], None]


class _StopEvent:
    """watchfiles' stop_event, backed by a CancelToken."""

    def __init__(self, cancel: CancelToken) -> None:
        self._cancel = cancel

    def is_set(self) -> bool:
        return self._cancel.cancelled


class FolderWatch:
    """Runs `ingest` whenever the folders under `roots` change, until cancelled."""

    def __init__(
        self,
        roots: Sequence[Path],
        ingest: Callable[[], IngestReport],
        *,
        ignore: Sequence[Path] = (),
        settle: float = 1.0,
        rescan_every: float = 600.0,
        on_update: WatchCallback | None = None,
    ) -> None:
        self.roots = [Path(r).expanduser().resolve() for r in roots]
        self.ingest = ingest
        self.ignore = [Path(p).expanduser().resolve() for p in ignore]
        self.settle = settle
        self.rescan_every = rescan_every
        self.on_update = on_update or (lambda _update: None)

    def run(self, cancel: CancelToken) -> WatchSummary:
        import watchfiles

        started = time.monotonic()
        summary = WatchSummary()
        caught_up = False
        last_sync = time.monotonic()
        pending = 0
        first_event = last_event = 0.0
        watched = [r for r in self.roots if r.exists()]
        for changes in watchfiles.watch(
            *watched,
            watch_filter=self._wanted,
            debounce=int(self.settle * 1000 / 2),
            step=50,
            stop_event=_StopEvent(cancel),
            rust_timeout=1000,  # wake once a second when idle: timers, and a prompt stop
            yield_on_timeout=True,
            raise_interrupt=False,
        ):
            if cancel.cancelled:
                break
            if not caught_up:
                # The catch-up runs once the watcher is live (its first yield), so a change made
                # during or right after it is an event, never lost until the next rescan.
                self._sync("start", 0, summary, cancel)
                caught_up, last_sync = True, time.monotonic()
                continue
            now = time.monotonic()
            if changes:
                if not pending:
                    first_event = now
                pending += len(changes)
                last_event = now
            quiet = pending and (now - last_event >= self.settle or now - first_event >= MAX_DELAY)
            if quiet:
                self._sync("events", pending, summary, cancel)
                pending, last_sync = 0, time.monotonic()
            elif now - last_sync >= self.rescan_every:
                self._sync("rescan", 0, summary, cancel)
                last_sync = time.monotonic()
        summary.seconds = time.monotonic() - started
        return summary

    def _wanted(self, change: object, path: str) -> bool:
        resolved = Path(path)
        if any(resolved == own or own in resolved.parents for own in self.ignore):
            return False  # ragkit's own writes
        return not Path(path).name.startswith(".")  # hidden files are never indexed either

    def _sync(self, reason: str, events: int, summary: WatchSummary, cancel: CancelToken) -> None:
        if cancel.cancelled:
            return
        try:
            report = self.ingest()
        except RagkitError as exc:
            log.warning("could not sync the index: %s", exc)
            summary.errors.append(str(exc))
            self.on_update(WatchUpdate(reason, [], [], [], [], None, events, error=str(exc)))
            return
        summary.syncs += 1
        summary.added += len(report.added)
        summary.changed += len(report.changed)
        summary.removed += len(report.removed)
        summary.failed += len(report.skipped)
        self.on_update(
            WatchUpdate(reason, report.added, report.changed, report.removed, report.skipped, report, events)
        )
