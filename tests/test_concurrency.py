"""One Ragkit shared by threads, one index shared by processes: what may run
at once, and that nothing breaks or mixes when it does (real llama.cpp with
the tiny phi3 model, real Chroma, real embedder)."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from ragkit import Ragkit
from ragkit.answering.llm import LlamaCppLLM
from tests.conftest import KEYS_DOC, write_docs
from tests.ingest.test_isolation import _manifest_ids
from tests.ingest.test_pipeline import keyword_ids, store_ids

PROMPT = "<|user|>\nhow do I rotate the api key<|end|>\n<|assistant|>\n"


def test_answers_asked_at_once_are_served_one_after_the_other_in_order(tiny_phi3: Path) -> None:
    llm = LlamaCppLLM(tiny_phi3)
    events: list[tuple[str, str]] = []
    lock = threading.Lock()

    def answer(name: str) -> None:
        tokens = llm.stream(PROMPT, n_ctx=512, max_tokens=24, temperature=0.0, stop=[])
        with lock:
            events.append((name, "turn"))
        for _ in tokens:
            with lock:
                events.append((name, "token"))
        with lock:
            events.append((name, "end"))

    first = llm.stream(PROMPT, n_ctx=512, max_tokens=24, temperature=0.0, stop=[])  # holds the turn
    waiting = [threading.Thread(target=answer, args=(name,)) for name in ("second", "third")]
    for thread in waiting:
        thread.start()
        time.sleep(0.3)  # "second" asks before "third"
    assert events == []  # both wait while the first answer is open
    assert "".join(first)  # read to the end: the turn passes on
    for thread in waiting:
        thread.join(timeout=120)
    names = [name for name, _ in events]
    assert names == sorted(names, key=["second", "third"].index)  # never interleaved, in arrival order
    assert events[0] == ("second", "turn") and events[-1] == ("third", "end")


def test_asking_again_from_the_same_thread_stops_the_unread_answer(
    make_kit: Callable[..., Ragkit], docs: Path, tiny_phi3: Path
) -> None:
    kit = make_kit(model=str(tiny_phi3), min_score=0.0, max_tokens=8)
    kit.ingest([docs])
    unread = kit.ask_stream("How are API keys rotated?")
    answer = kit.ask("How are API keys rotated?")  # does not wait for itself
    assert not answer.stopped and answer.sources
    assert list(unread) == [] and unread.answer is not None and unread.answer.stopped


def test_threads_mixing_search_ask_ingest_forget_and_status_on_one_ragkit(
    make_kit: Callable[..., Ragkit], tmp_path: Path, tiny_phi3: Path
) -> None:
    root = write_docs(tmp_path / "notes", {f"note{i}.md": f"# Note {i}\n\n{KEYS_DOC}\nNote {i}." for i in range(4)})
    kit = make_kit(model=str(tiny_phi3), min_score=0.0, max_tokens=8)
    kit.ingest([root])
    deadline = time.monotonic() + 20  # bounded: every worker stops by itself
    errors: list[str] = []
    counts: dict[str, int] = {}

    def worker(name: str, step: Callable[[random.Random], object]) -> None:
        rng = random.Random(name)
        while time.monotonic() < deadline:
            try:
                step(rng)
            except BaseException:  # any error fails the test below
                errors.append(f"{name}: {traceback.format_exc()}")
                return
            counts[name] = counts.get(name, 0) + 1

    def edit_and_ingest(rng: random.Random) -> None:
        note = root / f"note{rng.randrange(6)}.md"
        note.write_text(f"# Edited\n\n{KEYS_DOC}\nEdit {rng.random()}.")
        kit.ingest([root])

    def forget(rng: random.Random) -> None:
        indexed = kit.keywords.indexed_files()  # only this thread removes files from the index
        if len(indexed) > 2:  # an index forgotten down to nothing is rightly "empty" to a search
            kit.forget([rng.choice(indexed)[0]])

    def ask(rng: random.Random) -> None:
        stream = kit.ask_stream("How are API keys rotated?")
        for _ in stream:
            if rng.random() < 0.2:
                stream.cancel()

    steps: dict[str, Callable[[random.Random], object]] = {
        "search-1": lambda rng: kit.search("rotate the API key", k=3),
        "search-2": lambda rng: kit.search("backups", k=3, mode="bm25"),
        "ask-1": ask,
        "ask-2": ask,
        "ingest": edit_and_ingest,
        "forget": forget,
        "status": lambda rng: kit.status(),
    }
    threads = [threading.Thread(target=worker, args=item) for item in steps.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors[0]
    assert all(counts.get(name, 0) > 0 for name in steps), counts
    kit.ingest([root])
    assert store_ids(kit) == _manifest_ids(kit) == keyword_ids(kit)
    assert {Path(path).name for path, _, _ in kit.keywords.indexed_files()} == {p.name for p in root.iterdir()}


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from ragkit import Ragkit, Settings
    data_dir, root, seconds = Path(sys.argv[1]), Path(sys.argv[2]), float(sys.argv[3])
    kit = Ragkit(settings=Settings.load(config_files=(), env={}, data_dir=data_dir, offline=True))
    version, deadline = 1, time.monotonic() + seconds
    while time.monotonic() < deadline:
        version += 1
        paragraphs = [f"Section {i}. The vault code is version {version}. " + "Filler text. " * 40 for i in range(6)]
        (root / "vault.md").write_text("\\n\\n".join(paragraphs))
        kit.ingest([root])
    print(version)
    """
)


def test_a_reader_process_never_sees_an_error_or_a_file_half_rewritten_by_a_writer_process(
    make_kit: Callable[..., Ragkit], tmp_path: Path, data_dir: Path
) -> None:
    root = tmp_path / "vault"
    root.mkdir()
    paragraphs = [f"Section {i}. The vault code is version 1. " + "Filler text. " * 40 for i in range(6)]
    (root / "vault.md").write_text("\n\n".join(paragraphs))
    reader = make_kit()
    reader.ingest([root])
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(data_dir), str(root), "25"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"}, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    searches = 0
    versions_seen: set[str] = set()
    try:
        while writer.poll() is None:
            hits = reader.search("what is the vault code version", k=6)
            versions = {word for hit in hits for word in hit.text.split() if word.rstrip(".").isdigit()} - {
                str(i) + "." for i in range(6)
            }
            texts = [hit.text for hit in hits if "vault code is version" in hit.text]
            found = {t.split("vault code is version ")[1].split(".")[0] for t in texts}
            assert len(found) <= 1, f"old and new chunks of one file mixed: {found}"
            versions_seen |= found
            searches += 1
            del versions
    finally:
        out, err = writer.communicate(timeout=300)
    assert writer.returncode == 0, err[-2000:]
    assert searches > 10 and len(versions_seen) > 1  # the reader saw the file change, whole each time
    final = writer_version = out.strip()
    hits = reader.search("what is the vault code version", k=3, mode="dense")  # the vectors, once writing ended
    assert hits and all(f"version {writer_version}." in hit.text for hit in hits), final
