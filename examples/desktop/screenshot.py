"""Render the desktop app answering, offscreen, for the README.

    python examples/desktop/screenshot.py docs/desktop.png --model PATH.gguf [--folder examples/docs]

Indexes the folder into a temporary data folder, asks the question, waits for the
whole answer, shows the first cited passage and saves the window as a PNG."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from PySide6.QtWidgets import QApplication
from ragkit_desktop import MainWindow

from ragkit import Ragkit, Settings

HERE = Path(__file__).resolve().parent


def wait_for(app: QApplication, done: object, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:  # type: ignore[operator]
        app.processEvents()
        time.sleep(0.02)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--model", required=True)
    parser.add_argument("--folder", type=Path, default=HERE.parent / "docs")
    parser.add_argument("--question", default="How often is the database backed up, and how long are backups kept?")
    args = parser.parse_args()
    app = QApplication([])
    with tempfile.TemporaryDirectory() as data:
        settings = Settings.load(data_dir=Path(data), model=args.model, offline=True)
        window = MainWindow(Ragkit(settings=settings), opener=lambda source: None)
        window.show()
        window.watch_folder(args.folder.resolve())
        wait_for(app, lambda: window.status_label.text() and not window.status_label.text().startswith("0 files"))
        window.question.setText(args.question)
        window.ask()
        wait_for(app, lambda: window.last_answer is not None)
        cited = window.last_answer.cited if window.last_answer else []
        window.show_citation(cited[0] if cited else 1)
        app.processEvents()
        window.grab().save(str(args.out))
        window.close()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
