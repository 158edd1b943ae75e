from __future__ import annotations

from pathlib import Path

import pytest

from ragkit.errors import DocumentError
from ragkit.indexers import decode_text, load_document, walk

MARKDOWN = """---
title: Guide
---
# Guide

Intro paragraph.

## Install

Run this:

```sh
pip install thing

# not a heading inside a fence
```

Setext title
------------

Body under setext.
"""


def test_markdown_blocks_keep_heading_path_and_line_spans() -> None:
    doc = load_document(Path("guide.md"), MARKDOWN.encode())
    by_text = {b.text.splitlines()[0]: b for b in doc.blocks}
    fence = by_text["```sh"]
    assert fence.headings == ("Guide", "Install")
    assert "# not a heading inside a fence" in fence.text  # fences are never split or parsed
    assert (fence.start_line, fence.end_line) == (12, 16)
    assert by_text["Body under setext."].headings == ("Guide", "Setext title")
    assert by_text["Intro paragraph."].start_line == 6


def test_rst_titles_become_headings() -> None:
    text = "Backups\n=======\n\nSchedule\n--------\n\nNightly at 02:30.\n"
    doc = load_document(Path("b.rst"), text.encode())
    body = [b for b in doc.blocks if not b.is_heading]
    assert body[0].headings == ("Backups", "Schedule") and body[0].start_line == 7


def test_code_blocks_carry_the_enclosing_definition() -> None:
    code = "import os\n\n\ndef rotate_keys():\n    a = 1\n\n    return a\n\n\nclass Vault:\n    pass\n"
    doc = load_document(Path("k.py"), code.encode())
    headings = {b.text.split("\n")[0].strip(): b.headings for b in doc.blocks}
    assert headings["return a"] == ("rotate_keys",)
    assert headings["class Vault:"] == ("Vault",)
    assert headings["import os"] == ()


@pytest.mark.parametrize(
    ("data", "reason"),
    [(b"", "empty file"), (b"  \n\n", "empty file"), (b"\x00\x01\x02abc", "binary content")],
)
def test_non_text_is_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(DocumentError, match=reason):
        decode_text(Path("x.txt"), data)


def test_legacy_encodings_are_read() -> None:
    assert decode_text(Path("x.txt"), "café".encode("utf-16")) == "café"
    assert decode_text(Path("x.txt"), "café".encode("latin-1")) == "café"
    assert decode_text(Path("x.txt"), "\ufeffbom".encode()) == "bom"


def test_walk_skips_hidden_and_unsupported_and_survives_symlink_loops(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "note.md").write_text("x")
    (tmp_path / "a" / "drawing.dwg").write_bytes(b"AC1032")
    (tmp_path / "a" / "tool").write_bytes(b"\x7fELF\x00\x00")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "secret.md").write_text("x")
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)
    unsupported: list[str] = []
    found = [
        f.path.relative_to(tmp_path).as_posix()
        for f in walk([tmp_path], on_unsupported=lambda p: unsupported.append(p.relative_to(tmp_path).as_posix()))
    ]
    assert found == ["a/note.md"]
    assert unsupported == ["a/drawing.dwg", "a/tool"]  # counted for the summary, never silently dropped
