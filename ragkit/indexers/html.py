"""HTML pages: the main content (the <main> or <article> element when there
is one), without navigation, scripts, styles or forms; the <title> and the
h1-h6 headings become the heading path; tables are rendered row by row."""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

from ragkit.errors import DocumentError
from ragkit.indexers.base import BlockWriter, Document, LoadContext, decode_text
from ragkit.indexers.optional import require

_DROP = ("script", "style", "noscript", "template", "svg", "nav", "header", "footer", "aside", "form", "iframe",
         "button", "select", "head", "canvas", "object", "embed", "dialog")  # fmt: skip
_BOILERPLATE = re.compile(r"(^|[-_ ])(nav|navbar|menu|sidebar|breadcrumbs?|cookie|banner|skip-link|toc)([-_ ]|$)", re.I)
_BLOCKS = frozenset({"p", "li", "dt", "dd", "blockquote", "pre", "table", "ul", "ol", "dl", "div", "section",
                     "article", "main", "figure", "figcaption", "h1", "h2", "h3", "h4", "h5", "h6", "details",
                     "summary", "tr", "td", "th", "caption", "hr", "address", "center"})  # fmt: skip


def _text(node: Any) -> str:
    return " ".join(node.get_text(" ", strip=True).split())


def _has_block_children(node: Any) -> bool:
    return any(getattr(child, "name", None) in _BLOCKS for child in node.children)


def _table_rows(table: Any) -> list[str]:
    """Each row as 'header: value; ...' when the table has a header row, else cells joined by ' | '."""
    rows = [[_text(c) for c in tr.find_all(["td", "th"])] for tr in table.find_all("tr")]
    rows = [r for r in rows if any(r)]
    if not rows:
        return []
    first = table.find("tr")
    has_header = first is not None and first.find("th") is not None and first.find("td") is None
    if has_header and len(rows) > 1:
        header, body = rows[0], rows[1:]
        return ["; ".join(f"{h}: {v}" if h else v for h, v in zip(header, row) if v) for row in body]
    return [" | ".join(c for c in row if c) for row in rows]


def add_html(writer: BlockWriter, data: bytes | str, *, title_heading: bool = True) -> None:
    """Append the main content of an HTML page to `writer`."""
    require("bs4", "HTML", "html")
    from bs4 import BeautifulSoup

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # XHTML (e-books) parsed as HTML is what we want
        soup: Any = BeautifulSoup(data, "lxml")  # Any: bs4's overloads do not fit this generic walk
    title = _text(soup.title) if soup.title else ""
    for tag in soup.find_all(_DROP):
        tag.decompose()
    for tag in soup.find_all(attrs={"role": ["navigation", "banner", "contentinfo", "search"]}):
        tag.decompose()
    for tag in soup.find_all(True):
        if tag.attrs is None or tag.name in ("body", "html", "main", "article"):
            continue
        marks = " ".join([*tag.get("class", []), tag.get("id", "")])
        if marks and _BOILERPLATE.search(marks):
            tag.decompose()
    articles = soup.find_all("article")
    root = soup.find("main") or soup.find(attrs={"role": "main"}) or (articles[0] if len(articles) == 1 else None)
    root = root or soup.body or soup
    if title and title_heading:
        writer.heading(0, title)

    def visit(node: Any) -> None:
        for child in node.children:
            name = getattr(child, "name", None)
            if name is None:
                text = " ".join(str(child).split())
                if text:
                    writer.text(text)
                continue
            if re.fullmatch(r"h[1-6]", name):
                heading = _text(child)
                if heading != title or not title_heading:
                    writer.heading(int(name[1]), heading)
            elif name == "pre":
                writer.text(child.get_text(), is_code=True)
            elif name == "table":
                for row in _table_rows(child):
                    writer.text(row, same_paragraph=True)
            elif name in ("ul", "ol"):
                for item in child.find_all("li", recursive=False):
                    if _has_block_children(item):
                        visit(item)
                    else:
                        writer.text("- " + _text(item), same_paragraph=True)
            elif name in _BLOCKS and _has_block_children(child):
                visit(child)
            elif name in _BLOCKS:
                writer.text(_text(child))
            else:
                text = _text(child)  # inline element directly in a container
                if text:
                    writer.text(text)

    visit(root)


class HtmlLoader:
    kind = "html"
    suffixes = frozenset({".html", ".htm", ".xhtml"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        if not data.strip():
            raise DocumentError(str(path), "empty file")
        writer = BlockWriter(path, self.kind)
        add_html(writer, _decoded(path, data))
        return writer.doc


def _decoded(path: Path, data: bytes) -> bytes | str:
    """Bytes for BeautifulSoup to decode by the page's own <meta charset> or BOM, unless they
    are UTF-16/32 without a BOM or undeclared legacy text: those are decoded here."""
    import re

    if re.search(rb"<meta[^>]+charset", data[:4096], re.IGNORECASE) and b"\x00" not in data[:4096]:
        return data
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        return decode_text(path, data)
