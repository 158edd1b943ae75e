"""Generate documents of every supported format (and broken ones) for tests,
with the same libraries users' files come from; nothing is copied in."""

from __future__ import annotations

import json
import mailbox
from email.message import EmailMessage
from pathlib import Path

FACT = "The backup vault is unlocked with the passphrase orange-falcon-42."


def pdf(path: Path, pages: list[str], *, password: str | None = None) -> Path:
    from fpdf import FPDF

    doc = FPDF()
    if password:
        doc.set_encryption(owner_password="owner", user_password=password)
    doc.set_font("helvetica", size=11)
    for text in pages:
        doc.add_page()
        doc.multi_cell(0, 6, text)
    doc.output(str(path))
    return path


def blank_scan_pdf(path: Path) -> Path:
    """Pages with drawings and no text layer or text to recognise: a scan of nothing."""
    from fpdf import FPDF

    doc = FPDF()
    for _ in range(2):
        doc.add_page()
        doc.rect(20, 20, 100, 150, style="F")
    doc.output(str(path))
    return path


def docx(path: Path) -> Path:
    import docx as python_docx

    doc = python_docx.Document()
    doc.add_heading("Operations handbook", level=0)
    doc.add_heading("Backups", level=1)
    doc.add_paragraph(FACT)
    doc.add_heading("Contacts", level=1)
    table = doc.add_table(rows=3, cols=2)
    for row, (name, phone) in zip(table.rows, [("Name", "Phone"), ("Ada", "555-0101"), ("Linus", "555-0199")]):
        row.cells[0].text, row.cells[1].text = name, phone
    doc.save(str(path))
    return path


def pptx(path: Path) -> Path:
    import pptx as python_pptx

    deck = python_pptx.Presentation()
    for title, body, notes in [
        ("Quarterly review", "Revenue grew 12 percent.", ""),
        ("Backups", FACT, "Remind everyone to rotate the passphrase."),
        ("Next steps", "Hire two engineers.", ""),
    ]:
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = title
        slide.placeholders[1].text = body
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    deck.save(str(path))
    return path


def xlsx(path: Path) -> Path:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Servers"
    sheet.append(["Host", "Role", "RAM GB"])
    sheet.append(["alpha", "database", 64])
    sheet.append(["beta", "backup vault", 32])
    other = book.create_sheet("Owners")
    other.append(["Host", "Owner"])
    other.append(["beta", "Grace Hopper"])
    book.save(str(path))
    return path


def epub(path: Path) -> Path:
    from ebooklib import epub as ebook

    book = ebook.EpubBook()
    book.set_identifier("ragkit-test")
    book.set_title("The Ops Book")
    book.set_language("en")
    chapters = []
    for n, (title, text) in enumerate([("Getting started", "Install the agent."), ("Backups", FACT)], 1):
        chapter = ebook.EpubHtml(title=title, file_name=f"ch{n}.xhtml", lang="en")
        chapter.content = f"<html><body><h1>{title}</h1><p>{text}</p></body></html>"
        book.add_item(chapter)
        chapters.append(chapter)
    book.toc = chapters
    book.add_item(ebook.EpubNcx())
    book.add_item(ebook.EpubNav())
    book.spine = ["nav", *chapters]
    ebook.write_epub(str(path), book)
    return path


def notebook(path: Path) -> Path:
    cells = [
        {"cell_type": "markdown", "metadata": {}, "source": ["# Analysis\n", "\n", "## Backups\n"]},
        {"cell_type": "markdown", "metadata": {}, "source": [FACT]},
        {"cell_type": "code", "metadata": {}, "execution_count": 1, "source": ["vault.unlock()\n"],
         "outputs": [{"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo" * 500}}]},
    ]  # fmt: skip
    nb = {"cells": cells, "metadata": {"kernelspec": {"language": "python"}}, "nbformat": 4, "nbformat_minor": 5}
    path.write_text(json.dumps(nb))
    return path


def _message(subject: str, body: str, attachment: bool = False) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Grace <grace@example.com>"
    msg["To"] = "ops@example.com"
    msg["Date"] = "Tue, 03 Nov 2026 10:00:00 +0000"
    msg["Subject"] = subject
    msg.set_content(body)
    if attachment:
        msg.add_attachment(b"\x89PNG binary", maintype="image", subtype="png", filename="diagram.png")
    return msg


def eml(path: Path) -> Path:
    path.write_bytes(bytes(_message("Vault access", FACT, attachment=True)))
    return path


def mbox(path: Path) -> Path:
    box = mailbox.mbox(str(path))
    box.add(_message("Lunch", "Pizza on Friday."))
    box.add(_message("Vault access", FACT))
    box.close()
    return path


HTML_PAGE = """<!doctype html><html><head><title>Ops Wiki</title><style>.x{color:red}</style>
<script>var tracking = "do-not-index";</script></head><body>
<nav><a href="/">Home</a> <a href="/about">About us navigation</a></nav>
<main><h1>Backups</h1><p>{fact}</p>
<h2>Retention</h2><table><tr><th>Tier</th><th>Days</th></tr><tr><td>hot</td><td>7</td></tr></table>
<pre>restore --from vault
  --verify</pre></main>
<footer>Copyright footer text</footer></body></html>"""


def html(path: Path) -> Path:
    path.write_text(HTML_PAGE.replace("{fact}", FACT))
    return path
