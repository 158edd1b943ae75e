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


# -- formats added for issue 11 -------------------------------------------------------------------

_ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" '
    'xmlns:presentation="urn:oasis:names:tc:opendocument:xmlns:presentation:1.0"'
)


def _odf(path: Path, mimetype: str, body: str) -> Path:
    """An OpenDocument package as LibreOffice writes it: a stored mimetype first, then content.xml."""
    import zipfile

    content = f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODF_NS}><office:body>{body}'
    content += "</office:body></office:document-content>"
    with zipfile.ZipFile(path, "w") as package:
        package.writestr(zipfile.ZipInfo("mimetype"), mimetype)
        package.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        package.writestr("META-INF/manifest.xml", "<manifest/>")
    return path


def odt(path: Path) -> Path:
    return _odf(path, "application/vnd.oasis.opendocument.text", (
        '<office:text><text:h text:outline-level="1">Operations handbook</text:h>'
        '<text:h text:outline-level="2">Backups</text:h>'
        f'<text:p>{FACT}</text:p><text:list><text:list-item><text:p>Check the<text:s text:c="2"/>vault'
        '<text:tab/>weekly.</text:p></text:list-item></text:list>'
        '<table:table table:name="Contacts"><table:table-row><table:table-cell><text:p>Name</text:p>'
        '</table:table-cell><table:table-cell><text:p>Phone</text:p></table:table-cell></table:table-row>'
        '<table:table-row><table:table-cell><text:p>Ada</text:p></table:table-cell><table:table-cell>'
        '<text:p>555-0101</text:p></table:table-cell></table:table-row></table:table></office:text>'
    ))  # fmt: skip


def ods(path: Path) -> Path:
    def row(*cells: str) -> str:
        inner = "".join(f"<table:table-cell><text:p>{c}</text:p></table:table-cell>" for c in cells)
        return f"<table:table-row>{inner}</table:table-row>"

    empty = '<table:table-row table:number-rows-repeated="1048570"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>'  # noqa: E501
    return _odf(path, "application/vnd.oasis.opendocument.spreadsheet", (
        '<office:spreadsheet><table:table table:name="Servers">'
        + row("Host", "Role", "RAM GB") + row("alpha", "database", "64") + row("beta", "backup vault", "32")
        + empty + "</table:table></office:spreadsheet>"
    ))  # fmt: skip


def odp(path: Path) -> Path:
    def slide(title: str, body: str, notes: str = "") -> str:
        frames = f"<draw:frame><draw:text-box><text:p>{title}</text:p></draw:text-box></draw:frame>"
        frames += f"<draw:frame><draw:text-box><text:p>{body}</text:p></draw:text-box></draw:frame>"
        if notes:
            frames += f"<presentation:notes><draw:frame><draw:text-box><text:p>{notes}</text:p></draw:text-box>"
            frames += "</draw:frame></presentation:notes>"
        return f'<draw:page draw:name="{title}">{frames}</draw:page>'

    return _odf(path, "application/vnd.oasis.opendocument.presentation", (
        "<office:presentation>" + slide("Quarterly review", "Revenue grew 12 percent.")
        + slide("Backups", FACT, "Remind everyone to rotate the passphrase.") + "</office:presentation>"
    ))  # fmt: skip


def rtf(path: Path) -> Path:
    """RTF as WordPad writes it: cp1252 with escaped accents and a \\par per paragraph."""
    path.write_bytes(
        b"{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Calibri;}}\\f0\\fs22 "
        b"Operations handbook\\par\\par " + FACT.encode() + b"\\par "
        b"Le caf\\'e9 ouvre \\'e0 8 h.\\par}"
    )
    return path


def xml(path: Path) -> Path:
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE config [<!ENTITY lol "lol">]>\n<config>'
        "<server><host>db1.internal</host><port>5432</port></server>"
        f"<backup><vault passphrase-hint='ask Grace'/><note>{FACT} It is kept in the safe of the "
        "operations office and changed after every audit of the backup procedure.</note></backup></config>"
    )
    return path


def text_image(path: Path, lines: list[str], *, dpi: int = 300, size: tuple[float, float] = (8.27, 11.69)) -> Path:
    """A page of `lines` rendered like a scan at `dpi` (PNG, JPEG or TIFF by suffix)."""
    from PIL import Image, ImageDraw, ImageFont

    width, height = int(size[0] * dpi), int(size[1] * dpi)
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(_font(), size=max(8, int(dpi * 11 / 72)))  # 11 pt
    y = int(dpi * 0.8)
    for line in lines:
        if line:
            draw.text((int(dpi * 0.8), y), line, fill=0, font=font)
        y += int(dpi * 11 / 72 * 1.6)
    image.save(path, dpi=(dpi, dpi))
    return path


def _font() -> str:
    import glob

    for pattern in ("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", "/usr/share/fonts/**/*.ttf"):
        found = sorted(glob.glob(pattern, recursive=True))
        if found:
            return found[0]
    import PIL

    return str(Path(PIL.__file__).parent / "fonts" / "DejaVuSans.ttf")


def scanned_pdf(
    path: Path, pages: list[list[str]], *, dpi: int = 300, text_pages: dict[int, str] | None = None
) -> Path:
    """An image-only PDF like a scanner's: each page is a picture of its lines, no text layer.
    `text_pages` (1-based) are ordinary pages with a text layer instead."""
    import tempfile

    from fpdf import FPDF

    doc = FPDF(unit="in", format=(8.27, 11.69))
    with tempfile.TemporaryDirectory() as work:
        for number, lines in enumerate(pages, 1):
            doc.add_page()
            if text_pages and number in text_pages:
                doc.set_font("helvetica", size=11)
                doc.multi_cell(0, 0.2, text_pages[number])
                continue
            image = text_image(Path(work) / f"p{number}.png", lines, dpi=dpi)
            doc.image(str(image), x=0, y=0, w=8.27, h=11.69)
        doc.output(str(path))
    return path


def libreoffice(source: Path, target_suffix: str) -> Path:
    """`source` converted by LibreOffice (headless) to a legacy format such as .doc, .ppt or .xls."""
    import shutil
    import subprocess
    import tempfile

    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    assert soffice, "LibreOffice is not installed"
    filters = {"doc": "doc:MS Word 97", "ppt": "ppt:MS PowerPoint 97", "xls": "xls:MS Excel 97"}
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [soffice, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to",
             filters[target_suffix], "--outdir", str(source.parent), str(source)],
            check=True, capture_output=True, timeout=180,
        )  # fmt: skip
    return source.with_suffix("." + target_suffix)
