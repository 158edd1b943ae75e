"""Whole-document answers (`ask --doc/--scope`): the whole file in one
context when it fits in the context and in memory, else read part by part
with progress (real llama.cpp on the tiny phi3 GGUF)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ragkit import Ragkit
from ragkit.answering import llm as llm_module
from ragkit.answering.documents import DocumentProgress
from ragkit.cancel import CancelToken

Cli = Callable[..., subprocess.CompletedProcess[str]]


def long_document(path: Path, sections: int = 40) -> Path:
    lines = ["# Site inventory", ""]
    for i in range(1, sections + 1):
        lines += [f"## Site {i}", "", f"Site {i} has {i * 3} servers and {i % 7} spare disks in rack R{i:03d}.", ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_a_short_document_is_read_whole_in_one_context(
    make_kit: Callable[..., Ragkit], docs: Path, tiny_phi3: Path
) -> None:
    kit = make_kit(model=str(tiny_phi3), max_tokens=8)
    kit.ingest([docs])
    stream = kit.ask_documents("Summarize the operations guide.", [docs / "ops.md"])
    text = (docs / "ops.md").read_text()
    for line in filter(None, text.splitlines()):
        if not line.startswith("#"):
            assert line in stream.prompt  # every line of the file reached the model
    assert "Moth Harbour" not in stream.prompt  # and nothing from the other file
    assert {Path(s.path).name for s in stream.sources} == {"ops.md"}
    list(stream)
    assert stream.answer is not None and stream.answer.prompt_tokens <= stream.answer.n_ctx


def test_a_long_document_is_read_part_by_part_with_progress(
    make_kit: Callable[..., Ragkit], tmp_path: Path, tiny_phi3: Path
) -> None:
    doc = long_document(tmp_path / "inventory.md")
    kit = make_kit(model=str(tiny_phi3), max_tokens=32, ctx=1024, doc_ctx=1024)
    kit.ingest([doc])
    events: list[DocumentProgress] = []
    stream = kit.ask_documents("How many spare disks are there in total?", [doc], on_progress=events.append)
    reads = [e for e in events if e.phase == "read"]
    assert reads[0].total > 1 and reads[-1].done == reads[-1].total  # several parts, all read
    assert "Notes:" in stream.prompt and "Site 1 has" not in stream.prompt  # the answer comes from notes
    # The sources cover the whole document, in order, so citations point into it.
    assert stream.sources[0].start_line == 1
    assert stream.sources[-1].end_line == len(doc.read_text().splitlines())
    list(stream)
    assert stream.answer is not None and stream.answer.n_ctx <= 1024


def test_a_document_that_fits_the_context_but_not_memory_is_read_part_by_part(
    make_kit: Callable[..., Ragkit], tmp_path: Path, tiny_phi3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = long_document(tmp_path / "inventory.md")
    kit = make_kit(model=str(tiny_phi3), max_tokens=16, ctx=1024)
    kit.ingest([doc])
    # Room for the tiny model and 150 KB of KV cache: about 1,060 tokens even at q4_0 (144 bytes a
    # token), enough for a 1,024-token part but not for the whole document at once.
    room = tiny_phi3.stat().st_size + 600 * 1024**2 + 150_000
    monkeypatch.setattr(llm_module, "available_memory_bytes", lambda: room)
    events: list[DocumentProgress] = []
    stream = kit.ask_documents("How many servers in all?", [doc], on_progress=events.append)
    assert events and "Notes:" in stream.prompt
    list(stream)
    assert stream.answer is not None and stream.answer.n_ctx <= 1024


def test_ask_doc_and_scope_from_the_command_line(cli: Cli, docs: Path, tiny_phi3: Path) -> None:
    assert cli("ingest", str(docs)).returncode == 0
    result = cli("ask", "What does this file say?", "--doc", str(docs / "faq.txt"), "--model", str(tiny_phi3),
                 "--max-tokens", "8", "--json")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert {Path(s["path"]).name for s in json.loads(result.stdout)["sources"]} == {"faq.txt"}
    scoped = cli("ask", "Summarize.", "--scope", str(docs), "--model", str(tiny_phi3), "--max-tokens", "8", "--json")
    assert {Path(s["path"]).name for s in json.loads(scoped.stdout)["sources"]} == {"faq.txt", "ops.md"}
    (docs / "new.md").write_text("not indexed yet")
    missing = cli("ask", "What?", "--doc", str(docs / "new.md"), "--model", str(tiny_phi3))
    assert missing.returncode == 4 and "not in index" in missing.stderr and "ragkit ingest" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_stopping_a_part_by_part_reading_skips_the_remaining_parts(
    make_kit: Callable[..., Ragkit], tmp_path: Path, tiny_phi3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = long_document(tmp_path / "inventory.md")
    kit = make_kit(model=str(tiny_phi3), max_tokens=16, ctx=1024)
    kit.ingest([doc])
    room = tiny_phi3.stat().st_size + 600 * 1024**2 + 150_000  # as above: part by part
    monkeypatch.setattr(llm_module, "available_memory_bytes", lambda: room)
    token = CancelToken()
    events: list[DocumentProgress] = []

    def stop_after_the_first_part(event: DocumentProgress) -> None:
        events.append(event)
        if event.done == 1:
            token.cancel()

    stream = kit.ask_documents("How many servers in all?", [doc], on_progress=stop_after_the_first_part, cancel=token)
    assert list(stream) == []
    assert stream.answer is not None and stream.answer.stopped
    assert [e.done for e in events] == [0, 1]  # the parts after the stop were never read
    assert events[-1].total > 2
