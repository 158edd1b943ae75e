"""Parsers run in worker processes: a file whose parser raises anything, hangs,
eats memory without bound or kills its own process (a real signal) is skipped
with its reason, every other file is indexed, the index stays consistent, and
the failed file is not read again until it changes."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from ragkit import Ragkit
from tests.conftest import FAQ_DOC, KEYS_DOC, RAGKIT_BIN, write_docs
from tests.ingest.test_pipeline import keyword_ids, store_ids

HOSTILE = {"loaders": ("tests.hostile_loaders",), "parse_timeout": 3.0, "parse_memory_mb": 300}


def _hostile_folder(root: Path) -> Path:
    write_docs(root, {"ops.md": KEYS_DOC, "faq.txt": FAQ_DOC, "notes/plan.md": "# Plan\n\nShip the beta in March.\n"})
    for name in ("table.boom", "stuck.hang", "bomb.hog", "native.crash"):
        (root / name).write_bytes(b"not really a document")
    return root


def _reasons(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {Path(s.path).name: s.reason for s in report.skipped}


def _manifest_ids(kit: Ragkit) -> set[str]:
    from ragkit.ingest.manifest import Manifest

    manifest = Manifest(kit.index_dir / "manifest.sqlite3")
    try:
        return {cid for r in manifest.files().values() for cid in r.chunk_ids}
    finally:
        manifest.close()


def test_a_parser_that_raises_hangs_hogs_or_crashes_costs_only_its_file(
    make_kit: Callable[..., Ragkit], tmp_path: Path
) -> None:
    root = _hostile_folder(tmp_path / "docs")
    with make_kit(**HOSTILE) as kit:
        report = kit.ingest([root])
        reasons = _reasons(report)
        assert reasons["table.boom"] == "ValueError: no tc element at grid_offset=1"
        assert reasons["stuck.hang"].startswith("took longer than 3 s without progress")
        assert reasons["bomb.hog"] == "needed more than 300 MB of memory (parse_memory_mb)"
        assert reasons["native.crash"].startswith("parser crashed (SIGSEGV)")
        assert report.files_new == 3  # every readable file is in
        assert "45 days" in kit.search("how often are API keys rotated?", k=1)[0].text
        assert store_ids(kit) == _manifest_ids(kit) == keyword_ids(kit)
        assert {Path(f.path).name for f in kit.status().failed} == set(reasons)

        # Nothing changed: no file is read again, not even the ones that failed.
        again = kit.ingest([root])
        assert again.skipped == [] and again.files_unchanged == 3
        assert {Path(s.path).name for s in again.failed_before} == set(reasons)

        # A failed file that changes is tried again; --retry-failed tries all of them.
        (root / "table.boom").write_bytes(b"edited, still not a document")
        edited = kit.ingest([root])
        assert list(_reasons(edited)) == ["table.boom"] and len(edited.failed_before) == 3
        retried = kit.ingest([root], retry_failed=True)
        assert set(_reasons(retried)) == set(reasons) and retried.failed_before == []
        assert store_ids(kit) == _manifest_ids(kit) == keyword_ids(kit)

    # Giving the parsers more time (or memory, or OCR) tries the failed files again by itself.
    with make_kit(**{**HOSTILE, "parse_timeout": 4.0}) as patient:
        again = patient.ingest([root])
        assert set(_reasons(again)) == set(reasons) and again.failed_before == []
        assert _reasons(again)["stuck.hang"].startswith("took longer than 4 s")


def test_cli_reports_each_failure_once_and_counts_unsupported_files(
    cli,
    make_kit: Callable[..., Ragkit],
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    root = _hostile_folder(tmp_path / "docs")
    (root / "drawing.dwg").write_bytes(b"AC1032" + bytes(200))
    (root / "model.dwg").write_bytes(b"AC1032" + bytes(300))
    (root / "blob.bin").write_bytes(bytes(range(256)))
    (tmp_path / "ragkit.toml").write_text(
        'loaders = ["tests.hostile_loaders"]\nparse_timeout = 3\nparse_memory_mb = 300\n'
    )
    data_dir = str(make_kit().settings.data_dir)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "PYTHONPATH": str(Path(__file__).parents[2])}  # fmt: skip

    def ingest(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [RAGKIT_BIN, "ingest", str(root), "--data-dir", data_dir, *extra],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip

    first = ingest()
    assert first.returncode == 3, first.stderr
    skipped_lines = [line for line in first.stderr.splitlines() if line.startswith("skipped ")]
    assert len(skipped_lines) == 4 and "Traceback" not in first.stderr
    assert "not read, type not supported: 3 files (2 .dwg, 1 .bin)" in first.stdout

    second = ingest("--json")
    assert second.returncode == 3
    summary = json.loads(second.stdout)
    assert summary["skipped"] == [] and len(summary["failed_before"]) == 4 and summary["files_unchanged"] == 3
    assert summary["unsupported"] == {".dwg": 2, ".bin": 1}
    assert sorted(Path(p).name for p in summary["unsupported_paths"]) == ["blob.bin", "drawing.dwg", "model.dwg"]

    status = subprocess.run([RAGKIT_BIN, "status", "--data-dir", data_dir, "--json"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert json.loads(status.stdout)["unsupported"] == {".dwg": 2, ".bin": 1}
