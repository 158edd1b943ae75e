"""Loaders for plain-text formats: Markdown, Org and AsciiDoc (heading-aware),
reStructuredText and plain text. Each splits a file into blocks at blank lines,
keeps fenced code whole and tracks the heading path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ragkit.indexers.base import Block, Document, LoadContext, decode_text

_ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_RST_UNDERLINE = re.compile(r"^([=\-`:'\"~^_*+#<>])\1{2,}\s*$")


def _paragraphs(lines: list[str], first: int, last: int) -> Iterator[tuple[int, int]]:
    """Yield (start, end) 0-based inclusive spans of non-blank runs in lines[first:last+1]."""
    start = None
    for i in range(first, last + 1):
        if lines[i].strip():
            if start is None:
                start = i
        elif start is not None:
            yield start, i - 1
            start = None
    if start is not None:
        yield start, last


def _block(
    lines: list[str], start: int, end: int, headings: tuple[str, ...], is_heading: bool = False, is_code: bool = False
) -> Block:
    text = "\n".join(lines[start : end + 1]).strip("\n")
    return Block(text, start + 1, end + 1, headings, is_heading=is_heading, is_code=is_code)


class _HeadingLoader:
    """Markup with line-prefix headings (Markdown `#`, Org `*`, AsciiDoc `=`)
    and delimited code blocks kept whole."""

    kind = ""
    suffixes: frozenset[str] = frozenset()
    version = 1
    heading = _ATX_HEADING
    setext = False

    def fence_end(self, line: str) -> re.Pattern[str] | None:
        """For a line that opens a code block, the pattern of its closing line."""
        fence = _FENCE.match(line)
        return re.compile(r"^ {0,3}" + re.escape(fence.group(1))) if fence else None

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        lines = decode_text(path, data).splitlines()
        doc = Document(path, self.kind)
        stack: list[tuple[int, str]] = []  # (level, title)
        pending_start: int | None = None  # first line of the current non-heading run
        i = 0

        def flush(end: int) -> None:
            nonlocal pending_start
            if pending_start is not None:
                headings = tuple(t for _, t in stack)
                for s, e in _paragraphs(lines, pending_start, end):
                    doc.blocks.append(_block(lines, s, e, headings))
            pending_start = None

        # YAML front matter stays one block.
        if lines and lines[0].strip() == "---":
            for j in range(1, len(lines)):
                if lines[j].strip() in ("---", "..."):
                    doc.blocks.append(_block(lines, 0, j, ()))
                    i = j + 1
                    break
        while i < len(lines):
            line = lines[i]
            closing = self.fence_end(line)
            if closing:
                flush(i - 1)
                j = i + 1
                while j < len(lines) and not closing.match(lines[j]):
                    j += 1
                end = min(j, len(lines) - 1)
                doc.blocks.append(_block(lines, i, end, tuple(t for _, t in stack), is_code=True))
                i = end + 1
                continue
            heading = self.heading.match(line)
            setext = (
                self.setext
                and i + 1 < len(lines)
                and line.strip()
                and (pending_start is None or not lines[i - 1].strip())
                and re.match(r"^ {0,3}(=+|-+)\s*$", lines[i + 1])
                and not line.lstrip().startswith(("-", "*", ">", "|"))
            )
            if heading or setext:
                flush(i - 1)
                if heading:
                    level, title, end = len(heading.group(1)), heading.group(2).strip(), i
                else:
                    level = 1 if lines[i + 1].strip().startswith("=") else 2
                    title, end = line.strip(), i + 1
                while stack and stack[-1][0] >= level:
                    stack.pop()
                if title:
                    doc.blocks.append(_block(lines, i, end, tuple(t for _, t in stack), is_heading=True))
                    stack.append((level, title))
                i = end + 1
                continue
            if pending_start is None:
                pending_start = i
            i += 1
        flush(len(lines) - 1)
        return doc


class MarkdownLoader(_HeadingLoader):
    kind = "markdown"
    suffixes = frozenset({".md", ".markdown", ".mdx"})
    setext = True


class OrgLoader(_HeadingLoader):
    kind = "org"
    suffixes = frozenset({".org"})
    heading = re.compile(r"^(\*+)\s+(?:(?:TODO|DONE)\s+)?(.*?)(?:\s+:[\w:@]+:)?\s*$")

    def fence_end(self, line: str) -> re.Pattern[str] | None:
        found = re.match(r"^\s*#\+begin_(\w+)", line, re.IGNORECASE)
        return re.compile(r"^\s*#\+end_" + found.group(1), re.IGNORECASE) if found else None


class AsciiDocLoader(_HeadingLoader):
    kind = "asciidoc"
    suffixes = frozenset({".adoc", ".asciidoc"})
    heading = re.compile(r"^(={1,6})\s+(.*?)\s*$")

    def fence_end(self, line: str) -> re.Pattern[str] | None:
        found = re.match(r"^(-{4,}|\.{4,}|`{3,})\s*$", line)
        return re.compile("^" + re.escape(found.group(1)) + r"\s*$") if found else None


class RstLoader:
    kind = "rst"
    suffixes = frozenset({".rst", ".rest"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        lines = decode_text(path, data).splitlines()
        doc = Document(path, self.kind)
        levels: list[str] = []  # underline styles in order of first appearance
        stack: list[tuple[int, str]] = []
        spans = list(_paragraphs(lines, 0, len(lines) - 1)) if lines else []
        for start, end in spans:
            title_line = None
            # A section title: one text line with an underline (and maybe an overline).
            if end - start in (1, 2) and _RST_UNDERLINE.match(lines[end]):
                title_idx = end - 1
                over = end - start == 2 and _RST_UNDERLINE.match(lines[start])
                if (end - start == 1 or over) and len(lines[end].rstrip()) >= len(lines[title_idx].strip()):
                    title_line = title_idx
            if title_line is not None:
                style = lines[end].strip()[0] + ("o" if end - start == 2 else "")
                if style not in levels:
                    levels.append(style)
                level = levels.index(style)
                while stack and stack[-1][0] >= level:
                    stack.pop()
                title = lines[title_line].strip()
                doc.blocks.append(_block(lines, start, end, tuple(t for _, t in stack), is_heading=True))
                stack.append((level, title))
            else:
                doc.blocks.append(_block(lines, start, end, tuple(t for _, t in stack)))
        return doc


class PlainTextLoader:
    kind = "text"
    suffixes = frozenset({".txt", ".text", ".log", ".srt", ".vtt"})
    version = 1

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        lines = decode_text(path, data).splitlines()
        doc = Document(path, self.kind)
        doc.blocks = [_block(lines, s, e, ()) for s, e in _paragraphs(lines, 0, len(lines) - 1)] if lines else []
        return doc


TEXT_LOADERS = (MarkdownLoader(), OrgLoader(), AsciiDocLoader(), RstLoader(), PlainTextLoader())
