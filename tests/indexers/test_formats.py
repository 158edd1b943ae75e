"""Every supported format, generated with the libraries such files come
from: the fact inside is found, with the heading path, page or slide a
citation needs, and without boilerplate."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragkit.errors import DocumentError
from ragkit.indexers import load_document, sniff
from ragkit.indexers.chunking import Chunker
from ragkit.indexers.optional import MissingParserError
from tests import docgen

FACT = docgen.FACT


def _load(path: Path):  # type: ignore[no-untyped-def]
    return load_document(path, path.read_bytes())


def _block_with(doc, text: str):  # type: ignore[no-untyped-def]
    return next(b for b in doc.blocks if text in b.text)


def test_pdf_keeps_page_numbers_for_citations(tmp_path: Path) -> None:
    path = docgen.pdf(tmp_path / "manual.pdf", ["Introduction to the vault.", "Setup steps.", FACT])
    doc = _load(path)
    assert doc.kind == "pdf" and not doc.has_lines
    assert _block_with(doc, "orange-falcon-42").page == 3
    assert _block_with(doc, "Introduction").page == 1


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: docgen.pdf(p, [FACT], password="secret"), "encrypted PDF"),
        (docgen.blank_scan_pdf, "no text found, not even by OCR"),
        (lambda p: p.write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage") and p, "corrupt"),
    ],
    ids=["encrypted", "scanned", "corrupt"],
)
def test_unreadable_pdfs_say_why(tmp_path: Path, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.pdf"
    make(path)
    with pytest.raises(DocumentError, match=reason) as info:
        _load(path)
    assert info.value.path == str(path)


def test_docx_headings_and_table_rows(tmp_path: Path) -> None:
    doc = _load(docgen.docx(tmp_path / "handbook.docx"))
    assert _block_with(doc, FACT).headings == ("Operations handbook", "Backups")
    row = _block_with(doc, "555-0199")
    assert row.text == "Name: Linus; Phone: 555-0199"
    assert row.headings == ("Operations handbook", "Contacts")


def test_pptx_slide_numbers_titles_and_notes(tmp_path: Path) -> None:
    doc = _load(docgen.pptx(tmp_path / "review.pptx"))
    fact = _block_with(doc, FACT)
    assert (fact.page, fact.headings) == (2, ("Backups",))
    assert _block_with(doc, "rotate the passphrase").page == 2
    assert _block_with(doc, "Hire two").page == 3


def test_xlsx_rows_render_header_and_value_with_sheet_name(tmp_path: Path) -> None:
    doc = _load(docgen.xlsx(tmp_path / "inventory.xlsx"))
    row = _block_with(doc, "backup vault")
    assert row.text == "Host: beta; Role: backup vault; RAM GB: 32"
    assert row.headings == ("Sheet Servers",)
    assert _block_with(doc, "Grace Hopper").headings == ("Sheet Owners",)


def test_csv_and_tsv_rows_keep_file_line_numbers(tmp_path: Path) -> None:
    csv_path = tmp_path / "people.csv"
    csv_path.write_text('name,role\nada,admin\n"linus","kernel\nhacker"\ngrace,admiral\n')
    doc = _load(csv_path)
    assert [b.text for b in doc.blocks] == ["name: ada; role: admin", "name: linus; role: kernel hacker",
                                             "name: grace; role: admiral"]  # fmt: skip
    assert (doc.blocks[2].start_line, doc.blocks[2].end_line) == (5, 5)
    tsv_path = tmp_path / "hosts.tsv"
    tsv_path.write_text("host\tip\nalpha\t10.0.0.1\n")
    assert _load(tsv_path).blocks[0].text == "host: alpha; ip: 10.0.0.1"


def test_html_main_content_without_navigation_or_scripts(tmp_path: Path) -> None:
    doc = _load(docgen.html(tmp_path / "wiki.html"))
    text = "\n".join(b.text for b in doc.blocks)
    assert FACT in text
    assert "do-not-index" not in text and "navigation" not in text and "footer" not in text
    assert _block_with(doc, FACT).headings == ("Ops Wiki", "Backups")
    assert _block_with(doc, "Tier: hot; Days: 7").headings == ("Ops Wiki", "Backups", "Retention")
    assert _block_with(doc, "restore --from vault").is_code


def test_epub_chapters_in_reading_order(tmp_path: Path) -> None:
    doc = _load(docgen.epub(tmp_path / "book.epub"))
    texts = [b.text for b in doc.blocks if not b.is_heading]
    assert texts.index("Install the agent.") < texts.index(FACT)
    assert _block_with(doc, FACT).headings == ("The Ops Book", "Backups")


def test_notebook_cells_without_output_blobs(tmp_path: Path) -> None:
    doc = _load(docgen.notebook(tmp_path / "analysis.ipynb"))
    text = "\n".join(b.text for b in doc.blocks)
    assert FACT in text and "vault.unlock()" in text
    assert "iVBORw0KGgo" not in text
    assert _block_with(doc, FACT).headings == ("Analysis", "Backups")


def test_email_and_mbox_messages_with_headers_and_no_attachments(tmp_path: Path) -> None:
    doc = _load(docgen.eml(tmp_path / "vault.eml"))
    text = "\n".join(b.text for b in doc.blocks)
    assert FACT in text and "From: Grace <grace@example.com>" in text
    assert "diagram.png" in text and "PNG binary" not in text
    box = _load(docgen.mbox(tmp_path / "inbox.mbox"))
    assert _block_with(box, FACT).headings == ("Vault access",)
    assert _block_with(box, "Pizza").headings == ("Lunch",)


def test_json_and_jsonl_flatten_key_paths(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"db": {"host": "alpha", "ports": [5432, 5433]}, "vault": {"passphrase": "orange"}}')
    doc = _load(path)
    assert doc.blocks[0].text == "db.host: alpha\ndb.ports[0]: 5432\ndb.ports[1]: 5433"
    lines = tmp_path / "events.jsonl"
    lines.write_text('{"event": "login", "user": "ada"}\n\n{"event": "rotate", "key": {"id": 7}}\n')
    doc = _load(lines)
    expected = [("event: login\nuser: ada", 1), ("event: rotate\nkey.id: 7", 3)]
    assert [(b.text, b.start_line) for b in doc.blocks] == expected
    bad = tmp_path / "broken.json"
    bad.write_text('{"a": 1,,}')
    with pytest.raises(DocumentError, match="invalid JSON at line 1"):
        _load(bad)


def test_org_and_asciidoc_headings_and_code_blocks(tmp_path: Path) -> None:
    org = tmp_path / "notes.org"
    org.write_text("* Ops\nintro\n** Backups :infra:\n#+BEGIN_SRC sh\nvault unlock\n\nvault status\n#+END_SRC\n")
    block = _block_with(_load(org), "vault unlock")
    assert block.headings == ("Ops", "Backups") and block.is_code and "vault status" in block.text
    adoc = tmp_path / "guide.adoc"
    adoc.write_text("= Guide\n\n== Backups\n\ntext here\n\n----\nrestore\n\nverify\n----\n")
    doc = _load(adoc)
    assert _block_with(doc, "text here").headings == ("Guide", "Backups")
    assert _block_with(doc, "restore").text == "----\nrestore\n\nverify\n----"


def test_python_split_at_definitions_with_class_and_method_names(tmp_path: Path) -> None:
    path = tmp_path / "vault.py"
    path.write_text(
        "import os\n\n\n@cache\ndef unlock(passphrase):\n    return passphrase\n\n\n"
        "class Vault:\n    '''A vault.'''\n\n    def rotate(self):\n        pass\n"
    )
    doc = _load(path)
    assert _block_with(doc, "def unlock").headings == ("unlock",)
    assert _block_with(doc, "def unlock").start_line == 4  # the decorator belongs to it
    assert _block_with(doc, "def rotate").headings == ("Vault", "rotate")
    js = tmp_path / "app.ts"
    js.write_text("export function rotateKeys(days: number) {\n  return days;\n}\n")
    assert _load(js).blocks[0].headings == ("rotateKeys",)


def test_content_wins_over_a_wrong_suffix(tmp_path: Path) -> None:
    misnamed = tmp_path / "report.txt"
    docgen.pdf(misnamed, [FACT])
    doc = _load(misnamed)
    assert doc.kind == "pdf" and FACT in doc.blocks[0].text
    assert sniff(docgen.docx(tmp_path / "a.docx").read_bytes()) == "docx"
    assert sniff(docgen.xlsx(tmp_path / "a.xlsx").read_bytes()) == "xlsx"
    assert sniff(docgen.epub(tmp_path / "a.epub").read_bytes()) == "epub"
    readme = tmp_path / "README"
    readme.write_text("Plain words without a suffix.\n")
    assert _load(readme).kind == "text"


def test_missing_parser_names_the_extra_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pypdfium2" else real(name, *a))
    path = docgen.pdf(tmp_path / "manual.pdf", [FACT])
    with pytest.raises(DocumentError) as info:
        _load(path)
    assert info.value.reason == "PDF support is not installed: pip install 'ragkit[pdf]'"
    assert info.value.path == str(path) and not isinstance(info.value, MissingParserError)


@pytest.mark.parametrize("maker", [docgen.pdf, docgen.docx, docgen.pptx, docgen.xlsx, docgen.epub], ids=lambda f: "")
def test_corrupt_office_and_ebook_files_are_reported_not_raised(tmp_path: Path, maker) -> None:  # type: ignore[no-untyped-def]
    suffix = {"pdf": ".pdf", "docx": ".docx", "pptx": ".pptx", "xlsx": ".xlsx", "epub": ".epub"}[maker.__name__]
    good = maker(tmp_path / f"good{suffix}", [FACT]) if maker is docgen.pdf else maker(tmp_path / f"good{suffix}")
    broken = tmp_path / f"broken{suffix}"
    broken.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])  # a truncated download
    with pytest.raises(DocumentError) as info:
        _load(broken)
    assert info.value.path == str(broken) and info.value.reason


def test_chunks_of_a_pdf_cite_their_pages(tmp_path: Path, embedder) -> None:  # type: ignore[no-untyped-def]
    long_page = " ".join(f"Sentence {i} about the vault rotation schedule." for i in range(60))
    path = docgen.pdf(tmp_path / "manual.pdf", [long_page, long_page, FACT])
    chunks = Chunker(embedder.counter, 128).chunk(_load(path))
    assert all(c.page is not None and c.end_page is not None for c in chunks)
    fact_chunk = next(c for c in chunks if "orange-falcon-42" in c.text)
    assert fact_chunk.end_page == 3
    assert all(c.tokens <= 128 for c in chunks)
