"""Stopping long calls from another thread: an answer stops while llama.cpp is
still evaluating the prompt (not at the end of a batch) and the model answers
the next question; an ingest stops in the middle of a file's parse and keeps a
consistent index that the next ingest completes."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from ragkit import Ragkit
from ragkit.answering.llm import LlamaCppLLM
from ragkit.cancel import CancelToken
from tests.conftest import KEYS_DOC, RAGKIT_BIN, write_docs
from tests.ingest.test_isolation import _manifest_ids
from tests.ingest.test_pipeline import keyword_ids, store_ids


def test_a_token_runs_its_callbacks_once_from_any_thread() -> None:
    token = CancelToken()
    calls: list[str] = []
    token.on_cancel(lambda: calls.append("a"))
    unregister = token.on_cancel(lambda: calls.append("b"))
    unregister()
    threads = [threading.Thread(target=token.cancel) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert token.cancelled and calls == ["a"]
    token.on_cancel(lambda: calls.append("late"))  # registered after: runs at once
    assert calls == ["a", "late"]


@pytest.mark.slow
def test_an_answer_stops_during_prompt_evaluation_and_the_model_stays_usable(standin: Path) -> None:
    llm = LlamaCppLLM(standin, threads=2)
    prompt = "The vault log. " + " ".join(f"Entry {i}: the backup of volume {i} was verified." for i in range(180))
    prompt_tokens = llm.count_tokens(prompt)
    assert 2000 < prompt_tokens < 4000  # seconds of evaluation on two threads
    token = CancelToken()
    produced: list[str] = []
    returned = threading.Event()

    def consume() -> None:
        produced.extend(llm.stream(prompt, n_ctx=4096, max_tokens=16, temperature=0.0, stop=[], cancel=token))
        returned.set()

    worker = threading.Thread(target=consume)
    worker.start()
    time.sleep(1.0)
    token.cancel()
    worker.join(timeout=60)
    assert returned.is_set()
    assert produced == []  # stopped before the first token...
    evaluated = llm._llama.n_tokens
    assert 0 <= evaluated < prompt_tokens  # ...in the middle of the prompt's evaluation
    again = "".join(llm.stream("The capital of France is", n_ctx=4096, max_tokens=4, temperature=0.0, stop=[]))
    assert again.strip()  # the same loaded model answers the next question


def test_ask_stream_cancel_marks_the_answer_stopped(
    make_kit: Callable[..., Ragkit], docs: Path, tiny_phi3: Path
) -> None:
    kit = make_kit(model=str(tiny_phi3), min_score=0.0)
    kit.ingest([docs])
    stream = kit.ask_stream("How are API keys rotated?")
    stream.cancel()
    assert list(stream) == []
    assert stream.answer is not None and stream.answer.stopped
    assert kit.ask("How are API keys rotated?").stopped is False


def test_an_ingest_stops_mid_parse_keeps_what_it_committed_and_the_next_one_completes(
    make_kit: Callable[..., Ragkit], tmp_path: Path
) -> None:
    root = write_docs(tmp_path / "docs", {f"note{i:02d}.md": f"# Note {i}\n\n{KEYS_DOC}\nNote {i}." for i in range(6)})
    (root / "zz-stuck.hang").write_bytes(b"a parse that never ends")
    with make_kit(loaders=("tests.hostile_loaders",), parse_timeout=120.0) as kit:
        token = CancelToken()
        timer = threading.Timer(3.0, token.cancel)
        timer.start()
        report = kit.ingest([root], cancel=token)
        timer.cancel()
        assert report.stopped
        assert not any(Path(f.path).name == "zz-stuck.hang" for f in kit.status().failed)  # stopped, not failed
        assert store_ids(kit) == _manifest_ids(kit) == keyword_ids(kit)
        (root / "zz-stuck.hang").unlink()
        finished = kit.ingest([root])
        assert not finished.stopped and kit.status().files == 6
        assert store_ids(kit) == _manifest_ids(kit) == keyword_ids(kit)


def test_an_ingest_cancelled_from_its_progress_callback_stops_between_files(
    make_kit: Callable[..., Ragkit], tmp_path: Path
) -> None:
    root = write_docs(tmp_path / "docs", {f"n{i:02d}.md": f"# N {i}\n\nFact {i} is kept here." for i in range(30)})
    token = CancelToken()

    def on_progress(p) -> None:  # type: ignore[no-untyped-def]
        if p.phase == "read" and p.files_done >= 5:
            token.cancel()

    with make_kit() as kit:
        report = kit.ingest([root], on_progress, cancel=token)
        assert report.stopped and kit.status().files < 30
        assert store_ids(kit) == _manifest_ids(kit) == keyword_ids(kit)
        rest = kit.ingest([root])
        assert kit.status().files == 30 and rest.files_new == 30 - report.files_new


@pytest.mark.slow
def test_ctrl_c_during_the_prompt_evaluation_of_ask_stops_it_and_keeps_the_sources(
    cli: Callable[..., subprocess.CompletedProcess[str]], data_dir: Path, tmp_path: Path, standin: Path
) -> None:
    # Twenty long notes, all retrieved: a prompt the stand-in evaluates for many seconds.
    root = write_docs(tmp_path / "notes", {
        f"vault{i:02d}.md": "# Vault log\n\n" + " ".join(f"Entry {i}-{j}: volume {j} was verified." for j in range(40))
        for i in range(20)
    })  # fmt: skip
    assert cli("ingest", str(root)).returncode == 0
    env = {**os.environ, "RAGKIT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1",
           "COLUMNS": "200", "XDG_CONFIG_HOME": str(tmp_path / "config")}  # fmt: skip
    process = subprocess.Popen(
        [RAGKIT_BIN, "ask", "Which volumes were verified?", "--model", str(standin), "-k", "20", "--ctx", "8192",
         "--max-tokens", "32", "--min-score", "0", "--show-context"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert process.stdout is not None
    rules = 0
    for line in process.stdout:  # the prompt is shown between two rules, then evaluated
        rules += line.startswith("─")
        if rules == 2:
            break
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    rest, err = process.communicate(timeout=120)
    assert process.returncode == 130, err
    assert "(stopped)" in rest and "vault" in rest  # the passages it was given are still listed
    assert "Traceback" not in err
