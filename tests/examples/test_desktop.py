"""The desktop example (examples/desktop) driven as a user would, offscreen: choose a
folder, watch it index, ask, read the streamed answer, click a citation, Stop."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")  # before pytest-qt creates the QApplication
pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt, QTimer

from ragkit import Ragkit, Source
from tests.conftest import write_docs

APP = Path(__file__).resolve().parents[2] / "examples" / "desktop" / "ragkit_desktop.py"
WAIT_MS = 180_000


def load_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ragkit_desktop", APP)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["ragkit_desktop"] = module
    spec.loader.exec_module(module)
    return module


def click_row(qtbot: Any, widget: Any, row: int, *, double: bool = False) -> None:
    rect = widget.visualItemRect(widget.item(row))
    if double:
        qtbot.mouseDClick(widget.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    else:
        qtbot.mouseClick(widget.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def test_index_a_folder_ask_and_open_a_citation(
    qtbot: Any, make_kit: Callable[..., Ragkit], docs: Path, tiny_phi3: Path
) -> None:
    app = load_app()
    opened: list[Source] = []
    window = app.MainWindow(make_kit(model=str(tiny_phi3), min_score=0.0), opener=opened.append)
    qtbot.addWidget(window)
    window.show()

    window.watch_folder(docs)
    qtbot.waitUntil(lambda: window.status_label.text().startswith("2 files"), timeout=WAIT_MS)
    assert "tiny-phi3.gguf" in window.status_label.text()

    qtbot.keyClicks(window.question, "How are API keys rotated?")
    qtbot.mouseClick(window.ask_button, Qt.MouseButton.LeftButton)
    assert not window.ask_button.isEnabled() and window.stop_button.isEnabled()
    qtbot.waitUntil(lambda: window.last_answer is not None, timeout=WAIT_MS)
    assert window.answer.toPlainText().strip() == window.last_answer.text.strip()
    assert window.ask_button.isEnabled() and not window.stop_button.isEnabled()

    rows = [window.citations.item(i).text() for i in range(window.citations.count())]
    assert rows and rows[0].startswith("[1] ") and "ops.md" in rows[0]
    click_row(qtbot, window.citations, 0)
    assert "lanternctl keys rotate" in window.passage.toPlainText()  # the cited passage is shown
    click_row(qtbot, window.citations, 0, double=True)
    assert [s.path for s in opened] == [window.sources[0].path] and opened[0].start_line is not None

    # An edit while the folder is watched reaches the index, and the status line says so.
    (docs / "pets.md").write_text("# Pets\n\nThe office cat is called Biscuit.")
    qtbot.waitUntil(lambda: window.status_label.text().startswith("3 files"), timeout=WAIT_MS)
    window.close()
    assert window._watch_thread is None  # closing stopped the watch


@pytest.mark.slow
def test_stop_ends_the_answer_during_prompt_evaluation_and_the_ui_never_freezes(
    qtbot: Any, make_kit: Callable[..., Ragkit], tmp_path: Path, standin: Path
) -> None:
    # Twenty long notes, all retrieved: a prompt the real 270M model evaluates for many seconds.
    root = write_docs(tmp_path / "notes", {
        f"vault{i:02d}.md": "# Vault log\n\n" + " ".join(f"Entry {i}-{j}: volume {j} was verified." for j in range(40))
        for i in range(20)
    })  # fmt: skip
    app = load_app()
    kit = make_kit(model=str(standin), min_score=0.0, top_k=20, ctx=8192, max_tokens=32)
    window = app.MainWindow(kit)
    qtbot.addWidget(window)
    window.show()
    window.watch_folder(root)
    qtbot.waitUntil(lambda: window.status_label.text().startswith("20 files"), timeout=WAIT_MS)

    ticks: list[int] = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(50)
    window.question.setText("Which volumes were verified?")
    qtbot.mouseClick(window.ask_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.citations.count() > 0, timeout=WAIT_MS)  # prompt evaluation starts now
    listed = window.citations.count()
    ticks.clear()
    qtbot.wait(1500)
    assert len(ticks) >= 10  # the UI thread kept running while the model read the prompt
    assert window.answer_text == ""  # still evaluating: no token yet
    qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.last_answer is not None, timeout=60_000)
    timer.stop()
    assert window.last_answer.stopped and window.last_answer.text == ""
    assert "(stopped)" in window.answer.toPlainText()
    assert window.citations.count() == listed >= 10  # the passages stay listed
    window.close()
