"""Real folders are messy: bad files are skipped with a reason and never
stop or damage the rest; ignore rules, size limits, forget and status; and a
`kill -9` at any point of an ingest leaves an index that answers and that the
next ingest completes with no duplicate and no orphan chunk."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from ragkit import Ragkit
from ragkit.errors import RagkitError
from tests import docgen
from tests.conftest import FAQ_DOC, KEYS_DOC, write_docs
from tests.ingest.test_pipeline import keyword_ids, store_ids


def _reasons(report) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {Path(s.path).name: s.reason for s in report.skipped}


def _remove_deep(top: Path) -> None:
    """shutil.rmtree (and so pytest's tmp cleanup) recurses once per level."""
    chain = []
    while top.is_dir():
        chain.append(top)
        top = top / "d"
    for folder in reversed(chain):
        for child in folder.iterdir():
            child.unlink()
        folder.rmdir()


def test_bad_files_are_skipped_with_one_line_reasons_and_the_rest_ingests(
    make_kit: Callable[..., Ragkit], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    root = write_docs(tmp_path / "messy", {"good.md": KEYS_DOC})
    (root / "zero.md").write_bytes(b"")
    (root / "utf16.txt").write_bytes("Die Schlüssel werden alle 45 Tage rotiert.".encode("utf-16"))
    (root / "latin1.txt").write_bytes("Le café ouvre à 8 h; la clé est sous le paillasson.".encode("latin-1"))
    (root / "binary.md").write_bytes(b"\x7fELF\x00\x00\x01" * 300)
    docgen.pdf(root / "locked.pdf", [docgen.FACT], password="secret")
    docgen.blank_scan_pdf(root / "scan.pdf")
    (root / "truncated.docx").write_bytes(docgen.docx(tmp_path / "ok.docx").read_bytes()[:900])
    (root / "oneline.txt").write_text("word " * 400_000)  # a 2 MB file with no line break
    deep = root
    for _ in range(1100):  # deeper than Python's recursion limit (mkdir(parents=True) itself recurses)
        deep = deep / "d"
        deep.mkdir()
    (deep / "deep.md").write_text("The deepest note says the pager code is 7781.\n")
    (root / "loop").symlink_to(root, target_is_directory=True)
    (root / "dangling.md").symlink_to(root / "missing.md")

    request.addfinalizer(lambda: _remove_deep(root / "d"))
    kit = make_kit()
    report = kit.ingest([root])
    reasons = _reasons(report)
    assert reasons == {
        "zero.md": "empty file",
        "binary.md": "binary content in a text file",
        "locked.pdf": "encrypted PDF: save an unprotected copy to index it",
        "scan.pdf": "no text found, not even by OCR (blank or image-only pages)",
        "truncated.docx": "corrupt or not a Word .docx file: open and re-save it in Word",
        "dangling.md": "broken symbolic link",
    }
    assert report.files_new == 5  # good, utf16, latin1, oneline, deep
    assert "pager code is 7781" in kit.search("pager code", k=1)[0].text
    assert "Schlüssel" in kit.search("Schlüssel rotiert", k=1)[0].text
    assert any("café" in h.text for h in kit.search("Le café ouvre à 8 h", k=5))
    assert {Path(f.path).name: f.reason for f in kit.status().failed} == reasons

    # Fixing a file clears its failure; the rest is not re-read.
    (root / "zero.md").write_text("Now the zero file has words about the quarterly audit.\n")
    again = kit.ingest([root])
    assert again.files_new == 1 and again.files_unchanged == 5
    assert "zero.md" not in {Path(f.path).name for f in kit.status().failed}


def test_a_file_that_vanishes_or_becomes_unreadable_keeps_what_was_indexed(
    make_kit: Callable[..., Ragkit], docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kit = make_kit()
    kit.ingest([docs])
    (docs / "ops.md").write_text(KEYS_DOC + "\nA new paragraph.\n")
    (docs / "faq.txt").write_text(FAQ_DOC + "\nAnother line.\n")
    real_read = Path.read_bytes

    def flaky(self: Path) -> bytes:
        if self.name == "ops.md":
            raise PermissionError(13, "Permission denied")
        if self.name == "faq.txt":
            raise FileNotFoundError(2, "No such file or directory")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", flaky)
    report = kit.ingest([docs])
    monkeypatch.undo()
    assert _reasons(report) == {"ops.md": "cannot read: Permission denied",
                                "faq.txt": "cannot read: No such file or directory"}  # fmt: skip
    assert "45 days" in kit.search("how often are keys rotated?", k=1)[0].text  # the old chunks still answer
    assert kit.ingest([docs]).files_changed == 2  # readable again: picked up


def test_gitignore_ragkitignore_globs_and_size_limit(make_kit: Callable[..., Ragkit], tmp_path: Path) -> None:
    root = write_docs(tmp_path / "repo", {
        "README.md": "Project readme about deployment.\n", "notes/todo.md": "Buy milk.\n",
        "build/out.md": "Generated output.\n", "app.log": "log line\n", "secret.md": "Password is hunter2.\n",
        "sub/draft.md": "Unfinished draft.\n", "sub/final.md": "Final text.\n", "big.txt": "x " * 600_000,
    })  # fmt: skip
    (root / ".gitignore").write_text("build/\n*.log\n")
    (root / ".ragkitignore").write_text("secret.md\n")
    (root / "sub" / ".gitignore").write_text("draft.md\n")
    kit = make_kit(max_file_mb=1.0, exclude=("notes/",))
    report = kit.ingest([root])
    indexed = {Path(p).relative_to(root).as_posix() for p in _indexed_paths(kit)}
    assert indexed == {"README.md", "sub/final.md"}
    assert _reasons(report) == {"big.txt": "larger than the size limit (1.2 MB > 1 MB): raise max_file_mb to index it"}

    only_md = make_kit(include=("*.md",), use_ignore_files=False, max_file_mb=1.0)
    only_md.ingest([root])
    indexed = {Path(p).relative_to(root).as_posix() for p in _indexed_paths(only_md)}
    assert indexed == {"README.md", "notes/todo.md", "build/out.md", "secret.md", "sub/draft.md", "sub/final.md"}
    # Ignored again: the files leave the index.
    make_kit(max_file_mb=1.0).ingest([root])
    assert "secret.md" not in {Path(p).name for p in _indexed_paths(only_md)}


def _indexed_paths(kit: Ragkit) -> set[str]:
    from ragkit.ingest.manifest import Manifest

    manifest = Manifest(kit.index_dir / "manifest.sqlite3")
    try:
        return {p for p, r in manifest.files().items() if r.chunk_ids}
    finally:
        manifest.close()


def test_forget_removes_a_file_or_folder_and_status_reports_the_index(
    make_kit: Callable[..., Ragkit], tmp_path: Path
) -> None:
    root = write_docs(tmp_path / "docs", {"ops.md": KEYS_DOC, "faq.txt": FAQ_DOC, "team/a.md": "Alpha team.\n",
                                          "team/b.md": "Beta team.\n"})  # fmt: skip
    docgen.pdf(root / "manual.pdf", ["The introduction explains what the handbook covers. " * 8, docgen.FACT])
    kit = make_kit()
    kit.ingest([root])
    st = kit.status()
    assert (st.files, st.files_by_kind) == (5, {"markdown": 3, "pdf": 1, "text": 1})
    assert st.chunks == len(store_ids(kit)) and st.size_bytes > 0 and st.last_ingest is not None
    pdf_hits = [h for h in kit.search("which passphrase unlocks the backup vault?", k=5) if h.kind == "pdf"]
    assert pdf_hits[0].location().endswith("manual.pdf p. 2") and "orange-falcon-42" in pdf_hits[0].text

    assert kit.forget([root / "team"]).files_removed == 2
    assert kit.forget([root / "ops.md"]).files_removed == 1
    assert kit.status().files == 2 and len(store_ids(kit)) == kit.status().chunks
    assert all(Path(h.path).name not in ("ops.md", "a.md") for h in kit.search("keys team", k=10))
    with pytest.raises(RagkitError, match="not in index"):
        kit.forget([root / "team"])


_KILLED_INGEST = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from ragkit import Ragkit, stores
    from ragkit.ingest import manifest, pipeline

    data_dir, docs, target, nth, when = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
    pipeline.FLUSH_CHUNKS = 4  # many small flushes: more places to die in
    owner, name = {"pending": (manifest.Manifest, "set_pending"), "upsert": (stores.ChromaStore, "upsert"),
                   "delete": (stores.ChromaStore, "delete"), "commit": (manifest.Manifest, "commit_file"),
                   "none": (manifest.Manifest, "close")}[target]
    original = getattr(owner, name)
    calls = [0]

    def dying(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == nth and when == "before":
            os.kill(os.getpid(), signal.SIGKILL)
        result = original(self, *args, **kwargs)
        if calls[0] == nth and when == "after":
            os.kill(os.getpid(), signal.SIGKILL)
        return result

    setattr(owner, name, dying)
    Ragkit(data_dir=data_dir, offline=True).ingest([docs])
    print("finished without being killed")
    """
)


def _changed_folder(root: Path) -> None:
    """A second version of the folder: one file edited, one deleted, several added."""
    (root / "ops.md").write_text(KEYS_DOC.replace("45 days", "30 days"))
    (root / "faq.txt").unlink()
    for i in range(6):
        (root / f"new{i}.md").write_text(f"# Note {i}\n\n" + f"Note {i} records the fact number {i * 7}. " * 30)


@pytest.mark.parametrize(
    ("target", "nth", "when"),
    [("pending", 2, "before"), ("upsert", 1, "after"), ("delete", 1, "before"), ("delete", 2, "after"),
     ("commit", 3, "before")],
)  # fmt: skip
def test_kill_9_during_ingest_then_the_next_ingest_completes_cleanly(
    make_kit: Callable[..., Ragkit], tmp_path: Path, data_dir: Path, target: str, nth: int, when: str
) -> None:
    root = write_docs(tmp_path / "docs", {"ops.md": KEYS_DOC, "faq.txt": FAQ_DOC})
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "HF_HUB_OFFLINE": "1"}
    script = [sys.executable, "-c", _KILLED_INGEST, str(data_dir), str(root)]
    first = subprocess.run([*script, "none", "0", "never"], env=env, capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    _changed_folder(root)
    killed = subprocess.run([*script, target, str(nth), when], env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr

    kit = make_kit()  # this process opens the index only after the kill, like the user's next command
    assert kit.search("how often are keys rotated?", k=3)  # the index still answers
    report = kit.ingest([root])
    assert report.files_scanned == 7
    manifest_ids = {cid for ids in (r for r in [_chunk_ids(kit)]) for cid in ids}
    assert store_ids(kit) == manifest_ids == keyword_ids(kit)  # no orphan, no missing chunk, BM25 in sync
    assert len(manifest_ids) == kit.status().chunks  # no duplicate
    texts = " ".join(h.text for h in kit.search("how often are keys rotated? storage quota", k=20))
    assert "30 days" in texts and "45 days" not in texts and "12 GB" not in texts
    assert kit.status().interrupted_files == 0


def _chunk_ids(kit: Ragkit) -> list[str]:
    from ragkit.ingest.manifest import Manifest

    manifest = Manifest(kit.index_dir / "manifest.sqlite3")
    try:
        return [cid for r in manifest.files().values() for cid in r.chunk_ids]
    finally:
        manifest.close()


def test_two_ingest_processes_at_once_never_corrupt_the_index(
    cli,
    make_kit: Callable[..., Ragkit],
    tmp_path: Path,  # type: ignore[no-untyped-def]
) -> None:
    notes = {f"n{i}.md": f"# Note {i}\n\n" + f"Fact {i} is here. " * 40 for i in range(40)}
    root = write_docs(tmp_path / "docs", notes)
    env = {**os.environ, "RAGKIT_DATA_DIR": str(make_kit().settings.data_dir), "HF_HUB_OFFLINE": "1",
           "XDG_CONFIG_HOME": str(tmp_path / "config")}  # fmt: skip
    from tests.conftest import RAGKIT_BIN

    procs = [subprocess.Popen([RAGKIT_BIN, "ingest", str(root)], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes in ([0, 0], [0, 5]), results
    if codes == [0, 5]:
        assert any("being updated by another ragkit process" in err for _, err in results)
    kit = make_kit()
    assert set(_chunk_ids(kit)) == store_ids(kit) == keyword_ids(kit) and kit.status().files == 40


def test_an_unreadable_folder_is_reported_and_keeps_its_indexed_files(
    make_kit: Callable[..., Ragkit], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = write_docs(tmp_path / "docs", {"ops.md": KEYS_DOC, "team/faq.txt": FAQ_DOC})
    kit = make_kit()
    kit.ingest([root])
    real_scandir = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        if Path(path).name == "team":  # what chmod 000 does for a normal user (the tests may run as root)
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    report = kit.ingest([root])
    monkeypatch.undo()
    assert _reasons(report) == {"team": "cannot read folder: Permission denied"}
    assert report.files_removed == 0
    assert "12 GB" in kit.search("storage quota", k=1)[0].text
