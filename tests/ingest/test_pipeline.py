"""Incremental ingest through the library: what is re-read, re-embedded and removed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ragkit import IngestProgress, Ragkit
from tests.conftest import FAQ_DOC, KEYS_DOC, CountingEmbedder, write_docs


def store_ids(kit: Ragkit) -> set[str]:
    return set(kit._open_store(create=False)._collection.get(include=[])["ids"])  # type: ignore[attr-defined]


def keyword_ids(kit: Ragkit) -> set[str]:
    """Chunk ids in the BM25 index, checked against its full-text table too."""
    import sqlite3

    db = sqlite3.connect(kit.index_dir / "manifest.sqlite3")
    try:
        ids = {row[0] for row in db.execute("SELECT id FROM chunks")}
        text_rows = db.execute("SELECT count(*) FROM chunks_fts").fetchone()[0]
        joined = db.execute("SELECT count(*) FROM chunks_fts f JOIN chunks c ON c.rowid = f.rowid").fetchone()[0]
    finally:
        db.close()
    assert text_rows == joined == len(ids), "full-text rows without a chunk, or chunks without text"
    return ids


def test_unchanged_folder_touches_neither_embedder_nor_store(
    make_kit: Callable[..., Ragkit], counting: CountingEmbedder, docs: Path
) -> None:
    make_kit(embedder=counting).ingest([docs])
    embedded_first = len(counting.embedded)
    fresh = make_kit(embedder=counting)
    report = fresh.ingest([docs])
    assert report.files_unchanged == 2 and report.chunks_embedded == 0
    assert len(counting.embedded) == embedded_first
    assert fresh._store is None  # Chroma was never opened


def test_duplicate_and_renamed_text_is_not_embedded_again(
    make_kit: Callable[..., Ragkit], counting: CountingEmbedder, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "d", {"a.md": KEYS_DOC, "copy.md": KEYS_DOC})
    kit = make_kit(embedder=counting)
    first = kit.ingest([docs])
    assert first.chunks_embedded == first.chunks_added // 2  # the copy reuses every vector
    (docs / "copy.md").rename(docs / "renamed.md")
    counting.embedded.clear()
    second = kit.ingest([docs])
    assert counting.embedded == [] and second.chunks_reused > 0 and second.files_removed == 1
    hits = make_kit(dedupe=False).search("how often are keys rotated?", k=3)  # search shows copies once
    assert {Path(h.path).name for h in hits[:2]} == {"a.md", "renamed.md"}


def test_edit_reembeds_only_changed_chunks_and_moves_line_numbers(
    make_kit: Callable[..., Ragkit], counting: CountingEmbedder, tmp_path: Path
) -> None:
    body = "\n\n".join(f"## Topic {i}\n\n" + f"Topic {i} has a long explanation. " * 25 for i in range(6))
    docs = write_docs(tmp_path / "d", {"guide.md": "# Guide\n\n" + body})
    kit = make_kit(embedder=counting)
    kit.ingest([docs])
    before = {h.text: h.start_line for h in kit.search("Topic 5 explanation", k=10)}
    counting.embedded.clear()
    (docs / "guide.md").write_text("# Guide\n\nA new first paragraph.\n\n" + body)
    report = kit.ingest([docs])
    assert report.files_changed == 1 and 0 < report.chunks_embedded < 3
    after = {h.text: h.start_line for h in kit.search("Topic 5 explanation", k=10)}
    moved = [t for t in before if t in after and before[t] != after[t]]
    assert moved and all(after[t] == before[t] + 2 for t in moved)


def test_interrupted_ingest_leaves_a_working_index_and_no_orphans(
    make_kit: Callable[..., Ragkit], docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit = make_kit()
    kit.ingest([docs])
    (docs / "ops.md").write_text(KEYS_DOC.replace("45 days", "30 days"))
    store = kit._open_store(create=True)

    def crash(ids: object) -> None:
        raise KeyboardInterrupt  # killed after the new chunks were written, before the old were deleted

    monkeypatch.setattr(store, "delete", crash)
    with pytest.raises(KeyboardInterrupt):
        kit.ingest([docs])
    monkeypatch.undo()
    assert kit.search("how often are keys rotated?")  # still answers

    report = kit.ingest([docs])
    assert report.files_changed == 1
    ids = store_ids(kit)
    assert len(ids) == kit.chunk_count()  # no orphan, no duplicate
    texts = " ".join(h.text for h in kit.search("how often are keys rotated?", k=10))
    assert "30 days" in texts and "45 days" not in texts


def test_progress_is_reported_through_the_callback(make_kit: Callable[..., Ragkit], docs: Path) -> None:
    events: list[IngestProgress] = []
    make_kit().ingest([docs], on_progress=events.append)
    assert events[0].phase == "scan"
    assert events[-1].phase == "embed" and events[-1].files_done == events[-1].files_total == 2
    assert events[-1].chunks_embedded > 0


def test_missing_path_is_an_error_before_anything_changes(make_kit: Callable[..., Ragkit], tmp_path: Path) -> None:
    from ragkit.errors import RagkitError

    with pytest.raises(RagkitError, match="no such file or folder"):
        make_kit().ingest([tmp_path / "missing"])


def test_files_outside_the_ingested_folder_are_kept(make_kit: Callable[..., Ragkit], tmp_path: Path) -> None:
    a = write_docs(tmp_path / "a", {"ops.md": KEYS_DOC})
    b = write_docs(tmp_path / "b", {"faq.txt": FAQ_DOC})
    kit = make_kit()
    kit.ingest([a])
    kit.ingest([b])
    assert {Path(h.path).name for h in kit.search("quota and keys", k=5)} == {"ops.md", "faq.txt"}
