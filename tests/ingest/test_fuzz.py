"""Damaged files of every format in one folder: the ingest never aborts, each
file is either indexed or skipped with a one-line reason, and the index's
three id sets (Chroma, manifest, keyword index) agree afterwards."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ragkit import Ragkit
from tests.fuzzing import mutants, seed_documents
from tests.ingest.test_isolation import _manifest_ids
from tests.ingest.test_pipeline import keyword_ids, store_ids


def test_hundreds_of_mutated_documents_never_abort_an_ingest(make_kit: Callable[..., Ragkit], tmp_path: Path) -> None:
    seeds = seed_documents(tmp_path / "seeds")
    files = mutants(seeds, tmp_path / "mutants", per_format=10)
    assert len(files) >= 250
    with make_kit(parse_timeout=60.0) as kit:
        report = kit.ingest([tmp_path / "mutants"])
        indexed = report.files_new
        skipped = {Path(s.path) for s in report.skipped}
        assert indexed + len(skipped) == len(files)  # every file accounted for, none twice
        assert all(s.reason and "\n" not in s.reason and len(s.reason) < 400 for s in report.skipped)
        assert not any("Traceback" in s.reason for s in report.skipped)
        assert store_ids(kit) == _manifest_ids(kit) == keyword_ids(kit)
        assert indexed > 0 and skipped  # the mutants do both
        again = kit.ingest([tmp_path / "mutants"])
        assert again.skipped == [] and again.files_unchanged == indexed and len(again.failed_before) == len(skipped)
