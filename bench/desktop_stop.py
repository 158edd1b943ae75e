"""How long the desktop example's Stop button takes, as the user sees it.

    python bench/desktop_stop.py MODEL.gguf FOLDER [--runs 5] [--question "..."] [--top-k 5]

Runs examples/desktop offscreen on a temporary index of FOLDER. Each run asks the
question, presses Stop at a random moment of the prompt's evaluation (before the
first token), and measures the time from the press to the UI showing the stopped
answer; it also counts how often the UI thread ran during the evaluation (a 50 ms
timer), to show the window never froze. MODEL is e.g. the phi-3-mini-shaped
Q4_K_M from `bench/phi3_speed.py build`."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "desktop"))

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
from ragkit_desktop import MainWindow

from ragkit import Ragkit, Settings


def wait_for(app: QApplication, done: Callable[[], object], timeout: float = 900) -> float:
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > timeout:
            raise SystemExit("timed out")
        app.processEvents()
        time.sleep(0.005)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--question", default="What did the author work on before college?")
    args = parser.parse_args()
    app = QApplication([])
    ticks = [0]
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.__setitem__(0, ticks[0] + 1))
    timer.start(50)
    with tempfile.TemporaryDirectory() as data:
        settings = Settings.load(
            data_dir=Path(data), model=str(args.model), offline=True, top_k=args.top_k, min_score=0.0
        )
        window = MainWindow(Ragkit(settings=settings), opener=lambda source: None)
        window.show()
        window.watch_folder(args.folder.resolve())
        wait_for(app, lambda: window.status_label.text() and not window.status_label.text().startswith("0 files"))
        print(f"indexed: {window.status_label.text()}")
        # One full answer first: loads the model and gives the evaluation's length.
        window.question.setText(args.question)
        window.ask()
        wait_for(app, lambda: window.sources)
        evaluation = wait_for(app, lambda: window.answer_text or window.last_answer is not None)
        wait_for(app, lambda: window.last_answer is not None)
        print(f"full run: {evaluation:.1f} s from the passages to the first token")
        rng = random.Random(7)
        delays: list[float] = []
        for run in range(args.runs):
            window.question.setText(f"{args.question} (run {run})")  # a new prompt: nothing cached to skip
            window.ask()
            wait_for(app, lambda: window.sources)
            ticks[0] = 0
            pause = rng.uniform(0.2, 0.8) * evaluation
            started = time.monotonic()
            while time.monotonic() - started < pause and not window.answer_text:
                app.processEvents()
                time.sleep(0.005)
            waited = time.monotonic() - started
            ran = ticks[0]
            window.stop()
            delay = wait_for(app, lambda: window.last_answer is not None)
            assert window.last_answer is not None
            delays.append(delay)
            print(
                f"run {run + 1}: Stop after {waited:.1f} s of evaluation -> stopped answer shown in "
                f"{delay * 1000:.0f} ms (tokens {len(window.answer_text)} chars, stopped={window.last_answer.stopped}, "
                f"UI timer ran {ran} times in {waited:.1f} s)"
            )
        window.close()
    print(f"Stop -> stopped answer on screen: median {statistics.median(delays) * 1000:.0f} ms, "
          f"max {max(delays) * 1000:.0f} ms over {len(delays)} runs")  # fmt: skip


if __name__ == "__main__":
    main()
