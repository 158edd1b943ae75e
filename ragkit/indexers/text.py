"""Loaders for plain-text formats: Markdown (heading-aware), reStructuredText,
plain text and source code. Each splits a file into blocks at blank lines,
keeps fenced code whole and tracks the heading path."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ragkit.indexers.base import Block, Document

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


def _block(lines: list[str], start: int, end: int, headings: tuple[str, ...], is_heading: bool = False) -> Block:
    return Block("\n".join(lines[start : end + 1]).strip("\n"), start + 1, end + 1, headings, is_heading)


class MarkdownLoader:
    kind = "markdown"
    suffixes = frozenset({".md", ".markdown", ".mdx"})

    def load(self, path: Path, text: str) -> Document:
        lines = text.splitlines()
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
            fence = _FENCE.match(line)
            if fence:
                flush(i - 1)
                marker = fence.group(1)
                j = i + 1
                while j < len(lines) and not lines[j].lstrip().startswith(marker):
                    j += 1
                end = min(j, len(lines) - 1)
                doc.blocks.append(_block(lines, i, end, tuple(t for _, t in stack)))
                i = end + 1
                continue
            heading = _ATX_HEADING.match(line)
            setext = (
                i + 1 < len(lines)
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


class RstLoader:
    kind = "rst"
    suffixes = frozenset({".rst"})

    def load(self, path: Path, text: str) -> Document:
        lines = text.splitlines()
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
    suffixes = frozenset({".txt", ".text", ".log", ".org", ".adoc", ".csv", ".tsv"})

    def load(self, path: Path, text: str) -> Document:
        lines = text.splitlines()
        doc = Document(path, self.kind)
        doc.blocks = [_block(lines, s, e, ()) for s, e in _paragraphs(lines, 0, len(lines) - 1)] if lines else []
        return doc


_CODE_SUFFIXES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".jsx": "javascript",
    ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rs": "rust", ".java": "java", ".kt": "kotlin",
    ".scala": "scala", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".cs": "csharp",
    ".rb": "ruby", ".php": "php", ".swift": "swift", ".sh": "shell", ".bash": "shell", ".sql": "sql",
    ".r": "r", ".lua": "lua", ".pl": "perl", ".toml": "toml", ".yaml": "yaml", ".yml": "yaml",
    ".ini": "ini", ".cfg": "ini", ".json": "json", ".css": "css", ".html": "html", ".htm": "html",
}  # fmt: skip
# A line that opens a top-level definition: its name becomes the heading of what follows.
_DEFINITION = re.compile(
    r"^(?:export\s+)?(?:pub(?:\(crate\))?\s+)?(?:async\s+)?"
    r"(?:def|class|func|fn|function|interface|struct|enum|trait|impl|type|module)\s+([A-Za-z_][\w.]*)"
)


class CodeLoader:
    kind = "code"
    suffixes = frozenset(_CODE_SUFFIXES)

    def load(self, path: Path, text: str) -> Document:
        lines = text.splitlines()
        doc = Document(path, self.kind)
        symbol: tuple[str, ...] = ()
        for start, end in _paragraphs(lines, 0, len(lines) - 1) if lines else []:
            match = _DEFINITION.match(lines[start])
            if match:
                symbol = (match.group(1),)
            elif not lines[start][:1].isspace() and not lines[start].startswith(("#", "//", "@", "}", ")")):
                symbol = ()  # module-level code after a definition belongs to no symbol
            doc.blocks.append(_block(lines, start, end, symbol))
        return doc


TEXT_LOADERS = (MarkdownLoader(), RstLoader(), PlainTextLoader(), CodeLoader())
