"""The `ragkit` console script end to end, in subprocesses, as a user runs it."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from ragkit.ingest.manifest import IndexLock
from tests.conftest import RAGKIT_BIN

Cli = Callable[..., subprocess.CompletedProcess[str]]


def ingest_json(cli: Cli, *args: str) -> dict:
    result = cli("ingest", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_help_starts_without_heavy_imports() -> None:
    code = (
        "import sys, runpy; sys.argv = ['ragkit', '--help']\n"
        "try:\n    runpy.run_module('ragkit.cli', run_name='__main__')\n"
        "except SystemExit:\n    pass\n"
        "heavy = [m for m in ('torch', 'chromadb', 'llama_cpp', 'sentence_transformers', 'numpy')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "HEAVY []" in result.stdout, result.stdout + result.stderr
    assert "ingest" in result.stdout and "ask" in result.stdout


def test_ingest_search_ask_and_incremental_reingest(cli: Cli, docs: Path, tiny_phi3: Path) -> None:
    first = ingest_json(cli, str(docs))
    assert first["files_new"] == 2 and first["chunks_embedded"] == first["chunks_total"] > 0

    again = ingest_json(cli, str(docs))
    assert again["files_unchanged"] == 2 and again["chunks_embedded"] == 0

    found = cli("search", "how often are API keys rotated?", "--json", "-k", "2")
    assert found.returncode == 0, found.stderr
    results = json.loads(found.stdout)["results"]
    assert results[0]["path"].endswith("ops.md") and "45 days" in results[0]["text"]
    assert results[0]["start_line"] >= 1 and results[0]["score"] > results[1]["score"]

    table = cli("search", "storage quota")
    assert "faq.txt:1-7" in table.stdout and "storage quota" in table.stdout

    asked = cli("ask", "how often are API keys rotated?", "--model", str(tiny_phi3), "--max-tokens", "16", "--json")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["sources"][0]["path"].endswith("ops.md")
    assert answer["sources"][0]["number"] == 1
    assert 0 < answer["prompt_tokens"] <= answer["n_ctx"] <= 4096

    streamed = cli("ask", "how often are API keys rotated?", "--model", str(tiny_phi3), "--max-tokens", "8")
    assert streamed.returncode == 0, streamed.stderr
    # Only cited sources are listed; an answer citing none lists the passages it was given, and says so.
    listed = "Sources" in streamed.stdout or "Passages given (the answer cites none of them)" in streamed.stdout
    assert listed and "[1]" in streamed.stdout and "ops.md" in streamed.stdout

    # A question the documents cannot answer: said plainly, with the nearest passages to check.
    off_topic = cli("ask", "What is the airspeed velocity of an unladen swallow?", "--model", str(tiny_phi3))
    assert off_topic.returncode == 0, off_topic.stderr
    assert "I cannot find the answer" in off_topic.stdout and "Not found in your documents" in off_topic.stdout
    assert "Nearest passages" in off_topic.stdout and ".md" in off_topic.stdout

    # A changed file is re-indexed, a deleted one removed, unchanged chunks are not re-embedded.
    (docs / "ops.md").write_text((docs / "ops.md").read_text() + "\n## Contacts\n\nCall extension 4711.\n")
    (docs / "faq.txt").unlink()
    changed = ingest_json(cli, str(docs))
    assert changed["files_changed"] == 1 and changed["files_removed"] == 1
    assert 0 < changed["chunks_embedded"] < first["chunks_embedded"] + 1
    found = json.loads(cli("search", "storage quota", "--json").stdout)["results"]
    assert all(not r["path"].endswith("faq.txt") for r in found)


def test_ask_on_empty_index_says_what_to_do(cli: Cli, tiny_phi3: Path) -> None:
    result = cli("ask", "anything?", "--model", str(tiny_phi3))
    assert result.returncode == 4
    assert "index 'default' is empty" in result.stderr and "ragkit ingest" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_model_names_the_fix(cli: Cli, docs: Path, tmp_path: Path) -> None:
    ingest_json(cli, str(docs))
    result = cli("ask", "anything?", "--model", str(tmp_path / "nope.gguf"))
    assert result.returncode == 3 and "does not exist" in result.stderr
    offline = cli("ask", "anything?", "--model", "phi-3-mini-4k", "--offline")
    assert offline.returncode == 3
    assert "ragkit models pull phi-3-mini-4k" in offline.stderr
    assert len(offline.stderr.strip().splitlines()) == 1 and "Traceback" not in offline.stderr


def test_context_too_small_for_the_question(cli: Cli, docs: Path, tiny_phi3: Path) -> None:
    ingest_json(cli, str(docs))
    question = "why " * 400
    result = cli("ask", question, "--model", str(tiny_phi3), "--ctx", "512", "--max-tokens", "64", "--min-score", "0")
    assert result.returncode == 7
    assert "raise --ctx" in result.stderr and "Traceback" not in result.stderr


def test_unreadable_and_binary_files_are_skipped_with_a_reason(cli: Cli, docs: Path) -> None:
    (docs / "blob.txt").write_bytes(b"\x00\x01binary\x00" * 100)
    (docs / "empty.md").write_text("")
    result = cli("ingest", str(docs))
    assert result.returncode == 3  # "some files skipped"
    assert "blob.txt: binary content" in result.stderr and "empty.md: empty file" in result.stderr
    found = json.loads(cli("search", "storage quota", "--json").stdout)["results"]
    assert found[0]["path"].endswith("faq.txt")


def test_second_writer_gets_a_clear_message(cli: Cli, docs: Path, data_dir: Path) -> None:
    with IndexLock(data_dir / "indexes" / "default", "default"):
        result = cli("ingest", str(docs))
    assert result.returncode == 5
    assert "being updated by another ragkit process" in result.stderr


def test_damaged_or_foreign_chroma_database_is_reported(cli: Cli, docs: Path, data_dir: Path) -> None:
    ingest_json(cli, str(docs))
    db = data_dir / "indexes" / "default" / "chroma" / "chroma.sqlite3"
    with sqlite3.connect(db) as conn:
        conn.execute("DROP TABLE migrations")
    result = cli("search", "quota")
    assert result.returncode == 6, result.stderr
    assert "another Chroma version or damaged" in result.stderr and "--reindex" in result.stderr
    assert "Traceback" not in result.stderr

    rebuilt = cli("ingest", "--reindex", str(docs), "--json")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(cli("search", "quota", "--json").stdout)["results"][0]["path"].endswith("faq.txt")


def test_index_from_a_newer_chroma_is_refused(cli: Cli, docs: Path, data_dir: Path) -> None:
    ingest_json(cli, str(docs))
    (data_dir / "indexes" / "default" / "chroma" / "ragkit-chroma.json").write_text('{"chromadb": "99.0.0"}')
    result = cli("search", "quota")
    assert result.returncode == 6
    assert "written by chromadb 99.0.0" in result.stderr and "pip install -U chromadb" in result.stderr


def test_models_list_shows_registry_and_phi3_small_unsupported(cli: Cli) -> None:
    result = cli("models", "list", "--json")
    assert result.returncode == 0, result.stderr
    models = {m["name"]: m for m in json.loads(result.stdout)["models"]}
    assert models["phi-3-mini-128k"]["default"] and not models["phi-3-mini-128k"]["on_disk"]
    assert {"phi-3-mini-4k", "phi-3.5-mini", "phi-3-medium-128k"} <= set(models)
    assert not models["phi-3-small-128k"]["supported"]
    assert "llama.cpp" in models["phi-3-small-128k"]["note"]
    # Which models answer well in other languages: phi-3-mini is mostly English, phi-3.5-mini multilingual.
    assert models["phi-3-mini-128k"]["languages"] == "mostly English"
    assert models["phi-3.5-mini"]["languages"] == "multilingual"
    table = cli("models", "list")
    assert "not supported" in table.stdout and "multilingual" in table.stdout


def test_debug_shows_the_traceback(cli: Cli, tiny_phi3: Path) -> None:
    result = cli("ask", "anything?", "--model", str(tiny_phi3), "--debug")
    assert result.returncode == 4 and "Traceback" in result.stderr


@pytest.mark.parametrize("flag", ["--help"])
def test_console_script_is_installed(flag: str) -> None:
    result = subprocess.run([RAGKIT_BIN, flag], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "search" in result.stdout


def test_status_forget_and_ingest_filters_from_the_command_line(cli: Cli, docs: Path) -> None:
    from tests import docgen

    docgen.pdf(docs / "manual.pdf", ["The introduction explains the handbook. " * 8, docgen.FACT])
    (docs / "notes.log").write_text("a log line the user excluded\n")
    (docs / "empty.md").write_text("")
    result = cli("ingest", str(docs), "--exclude", "*.log")
    assert result.returncode == 3 and "empty.md: empty file" in result.stderr  # "some files skipped"

    status = cli("status")
    assert status.returncode == 0, status.stderr
    assert "files" in status.stdout and "pdf 1" in status.stdout and "markdown 1" in status.stdout
    assert "empty.md: empty file" in status.stdout
    data = json.loads(cli("status", "--json").stdout)
    assert data["files"] == 3 and data["failed"][0]["reason"] == "empty file"

    hits = json.loads(cli("search", "which passphrase unlocks the backup vault?", "--json").stdout)["results"]
    pdf_hit = next(h for h in hits if h["kind"] == "pdf")
    assert pdf_hit["page"] == 2 and "orange-falcon-42" in pdf_hit["text"]

    forgot = cli("forget", str(docs / "manual.pdf"))
    assert forgot.returncode == 0 and "removed 1 file" in forgot.stdout
    assert json.loads(cli("status", "--json").stdout)["files_by_kind"] == {"markdown": 1, "text": 1}
    again = cli("forget", str(docs / "manual.pdf"))
    assert again.returncode != 0 and "not in index" in again.stderr and "Traceback" not in again.stderr


def test_search_explains_retrievers_and_filters_with_where(cli: Cli, docs: Path, tiny_phi3: Path) -> None:
    assert cli("ingest", str(docs)).returncode == 0
    explained = cli("search", "lanternctl keys rotate", "--explain", "-k", "2")
    assert explained.returncode == 0, explained.stderr
    assert "dense #" in explained.stdout and "bm25 #1" in explained.stdout and "fused" in explained.stdout
    found = json.loads(cli("search", "who owns the service", "--where", "type=md", "--json").stdout)["results"]
    assert found and all(r["path"].endswith("ops.md") for r in found)
    assert found[0]["retrieval"]["fused_score"] > 0
    dense_only = json.loads(cli("search", "storage quota", "--mode", "dense", "--json").stdout)["results"]
    assert dense_only[0]["retrieval"].get("bm25_rank") is None and dense_only[0]["retrieval"]["dense_rank"] == 1
    nothing = cli("search", "storage quota", "--where", "path=*.pdf")
    assert nothing.returncode == 0 and "no passage found matching path=*.pdf" in nothing.stderr
    no_match = cli("ask", "storage quota?", "--where", "path=*.pdf", "--model", str(tiny_phi3))
    assert no_match.returncode == 4 and "no indexed passage matches path=*.pdf" in no_match.stderr
    bad = cli("search", "quota", "--where", "size>3")
    assert bad.returncode == 2 and "cannot read --where" in bad.stderr and "Traceback" not in bad.stderr


def test_gpu_layers_on_a_cpu_build_says_it_has_no_effect(cli: Cli, docs: Path, tiny_phi3: Path) -> None:
    ingest_json(cli, str(docs))
    result = cli("ask", "how often are API keys rotated?", "--model", str(tiny_phi3), "--gpu-layers", "-1",
                 "--max-tokens", "4")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "no GPU backend; --gpu-layers has no effect" in result.stderr
