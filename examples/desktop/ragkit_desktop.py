"""ragkit desktop: answers from a folder of your own documents, kept in sync as you edit them.

    pip install "ragkit[desktop]"
    python examples/desktop/ragkit_desktop.py [--folder ~/Notes] [--index notes] [--model PATH]

A small Qt app built only on ragkit's public API, to show how an app embeds it:
every ragkit call runs on a worker thread and reports back through Qt signals (the
UI thread never waits on ragkit), `Ragkit.watch()` keeps the chosen folder indexed,
and one `CancelToken` per task lets Stop and closing the window end any of them
at once, also while the model is still reading the prompt.
"""

from __future__ import annotations

import argparse
import html
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QUrl, Signal
from PySide6.QtGui import QCloseEvent, QDesktopServices
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from ragkit import Answer, CancelToken, IndexStatus, IngestProgress, Ragkit, RagkitError, Source, WatchUpdate

Opener = Callable[[Source], None]
_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def open_source(source: Source) -> None:
    """Open the cited file at its line or page: with $RAGKIT_EDITOR when set (e.g.
    `code -g {path}:{line}`), otherwise with the system's viewer (PDFs at their page)."""
    editor = os.environ.get("RAGKIT_EDITOR")
    if editor:
        command = editor.format(path=source.path, line=source.start_line or 1, page=source.page or 1)
        subprocess.Popen(shlex.split(command))
        return
    url = QUrl.fromLocalFile(source.path)
    if source.page is not None:
        url.setFragment(f"page={source.page}")  # PDF viewers and browsers open that page
    QDesktopServices.openUrl(url)


class Signals(QObject):
    """What worker threads report; Qt delivers each signal on the UI thread."""

    progress = Signal(object)  # IngestProgress
    synced = Signal(object)  # WatchUpdate
    status = Signal(object)  # IndexStatus
    sources = Signal(object)  # list[Source], known before the first token
    token = Signal(str)
    answered = Signal(object)  # Answer (stopped=True when Stop was pressed)
    failed = Signal(str)
    watch_ended = Signal()


class MainWindow(QMainWindow):
    def __init__(self, kit: Ragkit, *, opener: Opener = open_source) -> None:
        super().__init__()
        self.kit = kit
        self.opener = opener
        self.signals = Signals()
        self.sources: list[Source] = []
        self.answer_text = ""
        self.last_answer: Answer | None = None
        self.stop_pressed_at: float | None = None
        self.stop_seconds: float | None = None
        """Seconds from Stop to the answer's end, as the user saw it."""
        self._watch_cancel: CancelToken | None = None
        self._watch_thread: threading.Thread | None = None
        self._answer_cancel: CancelToken | None = None
        self._answer_thread: threading.Thread | None = None
        self._build()
        self._connect()
        self._refresh_status()

    # -- layout ---------------------------------------------------------------------------

    def _build(self) -> None:
        self.setWindowTitle("ragkit desktop")
        self.folder_button = QPushButton("Choose folder…")
        self.folder_label = QLabel("no folder yet")
        self.progress = QProgressBar()
        self.progress.setVisible(False)
        top = QHBoxLayout()
        top.addWidget(self.folder_button)
        top.addWidget(self.folder_label, 1)
        top.addWidget(self.progress)

        self.question = QLineEdit()
        self.question.setPlaceholderText("Ask your documents…")
        self.ask_button = QPushButton("Ask")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        ask_row = QHBoxLayout()
        ask_row.addWidget(self.question, 1)
        ask_row.addWidget(self.ask_button)
        ask_row.addWidget(self.stop_button)

        self.answer = QTextBrowser()
        self.answer.setOpenLinks(False)  # [n] links select a citation instead
        self.citations = QListWidget()
        self.passage = QTextBrowser()
        side = QSplitter(Qt.Orientation.Vertical)
        side.addWidget(self.citations)
        side.addWidget(self.passage)
        body = QSplitter(Qt.Orientation.Horizontal)
        body.addWidget(self.answer)
        body.addWidget(side)
        body.setSizes([560, 340])

        column = QVBoxLayout()
        column.addLayout(top)
        column.addLayout(ask_row)
        column.addWidget(body, 1)
        central = QWidget()
        central.setLayout(column)
        self.setCentralWidget(central)
        self.status_label = QLabel()
        self.statusBar().addWidget(self.status_label, 1)
        self.resize(960, 600)

    def _connect(self) -> None:
        self.folder_button.clicked.connect(self._choose_folder)
        self.ask_button.clicked.connect(self.ask)
        self.question.returnPressed.connect(self.ask)
        self.stop_button.clicked.connect(self.stop)
        self.answer.anchorClicked.connect(lambda url: self.show_citation(int(url.toString().split(":")[1])))
        self.citations.itemClicked.connect(lambda item: self.show_citation(item.data(Qt.ItemDataRole.UserRole)))
        self.citations.itemDoubleClicked.connect(
            lambda item: self.opener(self.sources[item.data(Qt.ItemDataRole.UserRole) - 1])
        )
        s = self.signals
        s.progress.connect(self._on_progress)
        s.synced.connect(self._on_synced)
        s.status.connect(self._on_status)
        s.sources.connect(self._on_sources)
        s.token.connect(self._on_token)
        s.answered.connect(self._on_answered)
        s.failed.connect(lambda message: self.statusBar().showMessage(message, 10_000))
        s.watch_ended.connect(lambda: self.progress.setVisible(False))

    # -- folder sync ----------------------------------------------------------------------

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder to answer from")
        if folder:
            self.watch_folder(Path(folder))

    def watch_folder(self, folder: Path) -> None:
        """Index `folder` and keep following it (a previous folder stops being watched)."""
        self.stop_watching()
        self.folder_label.setText(str(folder))
        self.progress.setRange(0, 0)  # busy until the first count of files arrives
        self.progress.setVisible(True)
        cancel = CancelToken()
        self._watch_cancel = cancel
        self._watch_thread = threading.Thread(target=self._watch, args=(folder, cancel), daemon=True)
        self._watch_thread.start()

    def _watch(self, folder: Path, cancel: CancelToken) -> None:
        def on_update(update: WatchUpdate) -> None:
            self.signals.synced.emit(update)
            self.signals.status.emit(self.kit.status())

        try:
            self.kit.watch([folder], on_update=on_update, on_progress=self.signals.progress.emit, cancel=cancel)
        except RagkitError as exc:
            self.signals.failed.emit(str(exc))
        finally:
            self.signals.watch_ended.emit()

    def stop_watching(self) -> None:
        if self._watch_cancel is not None and self._watch_thread is not None:
            self._watch_cancel.cancel()
            self._watch_thread.join(timeout=30)  # the watcher wakes at least once a second
        self._watch_cancel = self._watch_thread = None

    def _on_progress(self, progress: IngestProgress) -> None:
        if progress.files_total:
            self.progress.setRange(0, progress.files_total)
            self.progress.setValue(progress.files_done)
            self.progress.setVisible(progress.files_done < progress.files_total)

    def _on_synced(self, update: WatchUpdate) -> None:
        self.progress.setVisible(False)
        changes = len(update.added) + len(update.changed) + len(update.removed)
        skipped = f", {len(update.failed)} skipped" if update.failed else ""
        if update.error:
            self.statusBar().showMessage(f"could not sync: {update.error}", 10_000)
        elif changes or update.failed:
            self.statusBar().showMessage(f"{changes} files updated{skipped}", 5_000)

    def _refresh_status(self) -> None:
        threading.Thread(target=lambda: self.signals.status.emit(self.kit.status()), daemon=True).start()

    def _on_status(self, status: IndexStatus) -> None:
        model = Path(self.kit.settings.model or "default model").name
        self.status_label.setText(f"{status.files} files · {status.chunks} chunks · {model}")

    # -- answers --------------------------------------------------------------------------

    def ask(self) -> None:
        question = self.question.text().strip()
        if not question or self._answer_thread is not None:
            return
        self.sources, self.answer_text, self.last_answer = [], "", None
        self.stop_pressed_at = self.stop_seconds = None
        self.citations.clear()
        self.passage.clear()
        self.answer.setHtml("<i>searching…</i>")
        self.ask_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        cancel = CancelToken()
        self._answer_cancel = cancel
        self._answer_thread = threading.Thread(target=self._answer, args=(question, cancel), daemon=True)
        self._answer_thread.start()

    def _answer(self, question: str, cancel: CancelToken) -> None:
        try:
            stream = self.kit.ask_stream(question, cancel=cancel)
            self.signals.sources.emit(stream.sources)
            for token in stream:
                self.signals.token.emit(token)
            self.signals.answered.emit(stream.answer)
        except RagkitError as exc:
            self.signals.failed.emit(str(exc))
            self.signals.answered.emit(None)

    def stop(self) -> None:
        """Stop the answer, also while the model is still evaluating the prompt."""
        if self._answer_cancel is not None:
            self.stop_pressed_at = time.monotonic()
            self._answer_cancel.cancel()
            self.stop_button.setEnabled(False)

    def _on_sources(self, sources: list[Source]) -> None:
        self.sources = sources
        for source in sources:
            item = QListWidgetItem(f"[{source.number}] {source.location()}")
            item.setData(Qt.ItemDataRole.UserRole, source.number)
            item.setToolTip("click: show the passage · double-click: open the file there")
            self.citations.addItem(item)
        self.answer.setHtml("<i>reading the passages…</i>")

    def _on_token(self, token: str) -> None:
        self.answer_text += token
        self._render(self.answer_text)

    def _on_answered(self, answer: Answer | None) -> None:
        self._answer_thread = self._answer_cancel = None
        self.ask_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        if answer is None:
            self.answer.setHtml("<i>no answer</i>")
            return
        self.last_answer = answer
        if self.stop_pressed_at is not None:
            self.stop_seconds = time.monotonic() - self.stop_pressed_at
        self._render(answer.text, stopped=answer.stopped)

    def _render(self, text: str, *, stopped: bool = False) -> None:
        def link(match: re.Match[str]) -> str:
            numbers = [n.strip() for n in match.group(1).split(",")]
            return "[" + ", ".join(f'<a href="cite:{n}">{n}</a>' for n in numbers) + "]"

        body = _CITATION.sub(link, html.escape(text)).replace("\n", "<br>")
        self.answer.setHtml(body + (" <i>(stopped)</i>" if stopped else ""))

    def show_citation(self, number: int) -> None:
        if not 1 <= number <= len(self.sources):
            return
        source = self.sources[number - 1]
        self.citations.setCurrentRow(number - 1)
        heading = f"<b>[{number}] {html.escape(source.location())}</b>"
        if source.headings:
            heading += f"<br><i>{html.escape(source.headings)}</i>"
        self.passage.setHtml(f"{heading}<p>{html.escape(source.text).replace(chr(10), '<br>')}</p>")

    # -- shutdown -------------------------------------------------------------------------

    def closeEvent(self, event: QCloseEvent) -> None:
        if self._answer_cancel is not None:
            self._answer_cancel.cancel()
        if self._answer_thread is not None:
            self._answer_thread.join(timeout=30)
        self.stop_watching()
        self.kit.close()
        event.accept()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--folder", type=Path, help="folder to index and watch")
    parser.add_argument("--index", default="desktop", help="index name (default: desktop)")
    parser.add_argument("--model", help="GGUF file or model name (default: ragkit's configured model)")
    args = parser.parse_args(argv)
    app = QApplication(sys.argv[:1])
    kit = Ragkit(index=args.index, model=args.model) if args.model else Ragkit(index=args.index)
    window = MainWindow(kit)
    window.show()
    if args.folder:
        window.watch_folder(args.folder.expanduser())
    return app.exec()


if __name__ == "__main__":
    raise SystemExit(main())
