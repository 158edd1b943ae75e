"""Folder sync with the real watcher (watchfiles) on real files: each change a
user makes reaches the index once the folder is quiet, and nothing else does."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from ragkit import Ragkit
from ragkit.cancel import CancelToken
from ragkit.ingest.watch import WatchSummary, WatchUpdate
from tests.conftest import RAGKIT_BIN
from tests.ingest.test_isolation import _manifest_ids
from tests.ingest.test_pipeline import keyword_ids, store_ids

PARAGRAPHS = [f"Paragraph {i} of the handbook: topic number {i} is explained here at length. " * 6 for i in range(8)]


class Watching:
    """A kit.watch() running on a thread, its updates in a queue."""

    def __init__(self, kit: Ragkit, root: Path) -> None:
        self.kit = kit
        self.updates: queue.Queue[WatchUpdate] = queue.Queue()
        self.stop = CancelToken()
        self.summary: WatchSummary | None = None
        self.thread = threading.Thread(target=self._run, args=(root,))
        self.thread.start()

    def _run(self, root: Path) -> None:
        self.summary = self.kit.watch([root], on_update=self.updates.put, cancel=self.stop, settle=1.0)

    def next(self, timeout: float = 60) -> WatchUpdate:
        return self.updates.get(timeout=timeout)

    def until(self, done: Callable[[list[WatchUpdate]], bool], timeout: float = 90) -> list[WatchUpdate]:
        seen: list[WatchUpdate] = []
        deadline = time.monotonic() + timeout
        while not done(seen):
            seen.append(self.updates.get(timeout=max(0.1, deadline - time.monotonic())))
        return seen

    def quiet_for(self, seconds: float) -> bool:
        try:
            update = self.updates.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError(f"unexpected sync: {update}")

    def close(self) -> WatchSummary:
        started = time.monotonic()
        self.stop.cancel()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive() and time.monotonic() - started < 5  # stops promptly
        assert self.summary is not None
        return self.summary


@pytest.fixture
def root(tmp_path: Path, data_dir: Path) -> Path:
    # The index (data_dir) lives inside the watched folder: the watch must not react to its own writes.
    assert data_dir.parent == tmp_path
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "handbook.md").write_text("# Handbook\n\n" + "\n\n".join(PARAGRAPHS))
    (notes / "old.md").write_text("# Old\n\nAn old note about the vault in the cellar.")
    return tmp_path


@pytest.fixture
def watching(make_kit: Callable[..., Ragkit], root: Path) -> Iterator[Watching]:
    kit = make_kit()
    watching = Watching(kit, root)
    yield watching
    if not watching.stop.cancelled:
        watching.close()


def names(paths: list[str]) -> set[str]:
    return {Path(p).name for p in paths}


def test_each_kind_of_change_reaches_the_index_once_and_nothing_else_does(watching: Watching, root: Path) -> None:
    kit = watching.kit
    start = watching.next()
    assert start.reason == "start" and names(start.added) == {"handbook.md", "old.md"}
    assert watching.quiet_for(3)  # its own index writes (inside the folder) start nothing

    (root / "notes" / "new.md").write_text("# New\n\nThe boiler is serviced every March.")
    update = watching.next()
    assert update.reason == "events" and names(update.added) == {"new.md"}
    assert kit.search("when is the boiler serviced", k=1)[0].path.endswith("new.md")

    handbook = root / "notes" / "handbook.md"
    edited = PARAGRAPHS.copy()
    edited[3] = "Paragraph 3 now says the spare key is kept in the blue drawer."
    handbook.write_text("# Handbook\n\n" + "\n\n".join(edited))  # edit in place
    update = watching.next()
    assert names(update.changed) == {"handbook.md"} and update.report is not None
    assert 0 < update.report.chunks_embedded < update.report.chunks_total  # only the changed chunks

    edited[5] = "Paragraph 5 now says the alarm code changes every quarter."
    partial = handbook.with_name(".handbook.md.swp")
    partial.write_text("# Handbook\n\n" + "\n\n".join(edited))
    os.replace(partial, handbook)  # save by rename, as most editors do
    update = watching.next()
    assert names(update.changed) == {"handbook.md"} and update.report is not None
    assert 0 < update.report.chunks_embedded < update.report.chunks_total
    assert "alarm code" in kit.search("how often does the alarm code change", k=1)[0].text

    (root / "notes" / "old.md").unlink()
    update = watching.next()
    assert names(update.removed) == {"old.md"}

    shutil.move(root / "notes", root / "archive")  # move a folder: same text, new paths
    update = watching.until(lambda seen: bool(seen) and sum(len(u.added) for u in seen) >= 2)[-1]
    assert names(update.removed) == {"handbook.md", "new.md"} and names(update.added) == {"handbook.md", "new.md"}
    assert update.report is not None and update.report.chunks_embedded == 0  # nothing embedded again

    summary = watching.close()
    assert summary.removed >= 3 and summary.syncs >= 6
    assert store_ids(kit) == _manifest_ids(kit) == keyword_ids(kit)


def test_a_thousand_files_at_once_become_a_few_ingests(watching: Watching, root: Path) -> None:
    watching.next()  # start
    drop = root / "drop"
    drop.mkdir()
    for i in range(1000):
        (drop / f"note{i:04d}.txt").write_text(f"Note {i}: the item with serial {i * 7919} is on shelf {i % 40}.")
    updates = watching.until(lambda seen: sum(len(u.added) for u in seen) >= 1000, timeout=300)
    assert len(updates) <= 3
    assert watching.kit.status().files == 1002


def test_a_file_written_slowly_is_indexed_once_complete(watching: Watching, root: Path) -> None:
    watching.next()  # start
    slow = root / "notes" / "slow.md"
    with slow.open("w") as out:
        for i in range(8):  # a write every 0.4 s for 3 s: never quiet for the 1 s settle time
            out.write(f"Line {i} of the slow report about the harbour crane.\n\n")
            out.flush()
            time.sleep(0.4)
        out.write("Last line: the crane was repaired on Friday.\n")
    update = watching.next()
    assert names(update.added) == {"slow.md"}
    assert watching.quiet_for(2.5)  # one ingest, not one per write
    assert "repaired on Friday" in watching.kit.search("when was the crane repaired", k=1)[0].text


def test_changes_made_while_not_watching_are_caught_up_on_start(
    make_kit: Callable[..., Ragkit], watching: Watching, root: Path
) -> None:
    watching.next()
    watching.close()
    (root / "notes" / "old.md").unlink()
    (root / "notes" / "later.md").write_text("# Later\n\nWritten while nobody watched.")
    again = Watching(make_kit(), root)
    try:
        start = again.next()
        assert start.reason == "start"
        assert names(start.added) == {"later.md"} and names(start.removed) == {"old.md"} and not start.changed
    finally:
        again.close()


def test_a_file_saved_during_the_catch_up_is_not_missed(make_kit: Callable[..., Ragkit], root: Path) -> None:
    kit = make_kit()
    updates: queue.Queue[WatchUpdate] = queue.Queue()
    stop = CancelToken()
    late = root / "notes" / "late.md"

    def save_while_catching_up(progress: object) -> None:
        if not late.exists():
            late.write_text("# Late\n\nSaved while the catch-up ingest was running.")

    thread = threading.Thread(
        target=kit.watch, args=([root],),
        kwargs={"on_update": updates.put, "on_progress": save_while_catching_up, "cancel": stop, "settle": 0.5},
    )  # fmt: skip
    thread.start()
    try:
        seen = [updates.get(timeout=60)]
        while not any("late.md" in " ".join(u.added) for u in seen):
            seen.append(updates.get(timeout=60))
        assert seen[0].reason == "start"
    finally:
        stop.cancel()
        thread.join(timeout=30)
    assert kit.search("saved while the catch-up was running", k=1)[0].path.endswith("late.md")


def test_the_periodic_rescan_finds_what_the_events_missed(
    make_kit: Callable[..., Ragkit], root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Events get lost on network drives, across sleep and on queue overflow; here every event is dropped.
    from ragkit.ingest.watch import FolderWatch

    monkeypatch.setattr(FolderWatch, "_wanted", lambda self, change, path: False)
    (root / "notes" / "broken.pdf").write_bytes(b"%PDF-1.4 this is not a PDF")
    kit = make_kit()
    updates: queue.Queue[WatchUpdate] = queue.Queue()
    stop = CancelToken()
    thread = threading.Thread(
        target=kit.watch, args=([root],), kwargs={"on_update": updates.put, "cancel": stop, "rescan_every": 3.0}
    )
    thread.start()
    try:
        start = updates.get(timeout=60)
        assert start.reason == "start" and names([f.path for f in start.failed]) == {"broken.pdf"}
        (root / "notes" / "unseen.md").write_text("# Unseen\n\nNo event announced this file.")
        update = updates.get(timeout=60)
        while not update.added:  # rescans that found nothing new
            update = updates.get(timeout=60)
        assert update.reason == "rescan" and names(update.added) == {"unseen.md"}
        assert not update.failed  # a failed file is not read again until it changes
    finally:
        stop.cancel()
        thread.join(timeout=30)


class LineReader:
    """Lines of a child's stdout, read on a thread so that waiting for one has a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(stream,), daemon=True).start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def until(self, *words: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {words} in {timeout} s: {self.lines}") from None
            assert line is not None, f"ended before {words}: {self.lines}"
            self.lines.append(line)
            if all(word in line for word in words):
                return line

    def rest(self) -> str:
        out = []
        while (line := self._queue.get(timeout=60)) is not None:
            out.append(line)
        return "".join(out)


def test_ragkit_watch_shows_each_change_and_a_summary_on_ctrl_c(data_dir: Path, root: Path) -> None:
    env = {**os.environ, "RAGKIT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "COLUMNS": "200", "XDG_CONFIG_HOME": str(root / "config")}  # fmt: skip
    process = subprocess.Popen(
        [RAGKIT_BIN, "watch", str(root / "notes"), "--settle", "0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env, cwd=root,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        out = LineReader(process.stdout)
        out.until("watching")
        assert any("added" in line and "handbook.md" in line for line in out.lines)  # the catch-up on start
        (root / "notes" / "fresh.md").write_text("# Fresh\n\nA note written while watched.")
        assert "added" in out.until("fresh.md")
        (root / "notes" / "old.md").unlink()
        assert "removed" in out.until("old.md")
        process.send_signal(signal.SIGINT)
        summary = out.rest()
        assert process.wait(timeout=30) == 0
        assert "stopped after" in summary and "3 added" in summary and "1 removed" in summary, summary
    finally:
        process.kill()
