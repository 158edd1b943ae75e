"""Source code: split at top-level definitions, keeping the symbol name (and
a method's class) as the heading path. Python is parsed with `ast`; other
languages use a definition-line pattern; lines are never split."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from ragkit.indexers.base import Block, Document, LoadContext, decode_text

CODE_LANGUAGES = {
    ".py": "python", ".pyi": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".jsx": "javascript", ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rs": "rust",
    ".java": "java", ".kt": "kotlin", ".scala": "scala", ".c": "c", ".h": "c", ".cc": "cpp", ".cpp": "cpp",
    ".hpp": "cpp", ".cs": "csharp", ".rb": "ruby", ".php": "php", ".swift": "swift", ".sh": "shell",
    ".bash": "shell", ".zsh": "shell", ".sql": "sql", ".r": "r", ".lua": "lua", ".pl": "perl", ".toml": "toml",
    ".yaml": "yaml", ".yml": "yaml", ".ini": "ini", ".cfg": "ini", ".css": "css", ".scss": "css",
    ".dart": "dart", ".ex": "elixir", ".exs": "elixir", ".hs": "haskell", ".ml": "ocaml", ".vue": "vue",
    ".proto": "protobuf", ".tf": "terraform", ".gradle": "groovy", ".m": "objc", ".jl": "julia",
}  # fmt: skip

# A line that opens a top-level definition: its name becomes the heading of what follows.
_DEFINITION = re.compile(
    r"^(?:export\s+)?(?:default\s+)?(?:pub(?:\(crate\))?\s+)?(?:public\s+|private\s+|static\s+|abstract\s+)*"
    r"(?:async\s+)?(?:def|class|func|fn|function|interface|struct|enum|trait|impl|type|module|object)\s+"
    r"([A-Za-z_][\w.]*)"
)


def _runs(lines: list[str], first: int, last: int) -> list[tuple[int, int]]:
    """0-based inclusive spans of non-blank line runs in lines[first:last+1]."""
    spans: list[tuple[int, int]] = []
    start = None
    for i in range(first, last + 1):
        if lines[i].strip():
            start = i if start is None else start
        elif start is not None:
            spans.append((start, i - 1))
            start = None
    if start is not None:
        spans.append((start, last))
    return spans


def _block(lines: list[str], start: int, end: int, symbol: tuple[str, ...]) -> Block:
    return Block("\n".join(lines[start : end + 1]), start + 1, end + 1, symbol, is_code=True)


class CodeLoader:
    kind = "code"
    suffixes = frozenset(CODE_LANGUAGES)
    version = 2

    def load(self, path: Path, data: bytes, ctx: LoadContext) -> Document:
        text = decode_text(path, data)
        lines = text.splitlines()
        doc = Document(path, self.kind)
        if CODE_LANGUAGES.get(path.suffix.lower()) == "python":
            try:
                doc.blocks = self._python(text, lines)
                return doc
            except (SyntaxError, ValueError, RecursionError):
                pass  # not valid Python (a template, Python 2): fall back to the pattern
        doc.blocks = self._by_pattern(lines)
        return doc

    def _python(self, text: str, lines: list[str]) -> list[Block]:
        tree = ast.parse(text)
        spans: list[tuple[int, int, tuple[str, ...]]] = []  # 0-based inclusive, symbol path
        definitions = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        for node in tree.body:
            if not isinstance(node, definitions):
                continue
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            end = (node.end_lineno or node.lineno) - 1
            if isinstance(node, ast.ClassDef):
                methods = [n for n in node.body if isinstance(n, definitions)]
                cursor = start
                for method in methods:
                    m_start = min([method.lineno, *(d.lineno for d in method.decorator_list)]) - 1
                    m_end = (method.end_lineno or method.lineno) - 1
                    if m_start > cursor:
                        spans.append((cursor, m_start - 1, (node.name,)))
                    spans.append((m_start, m_end, (node.name, method.name)))
                    cursor = m_end + 1
                if cursor <= end:
                    spans.append((cursor, end, (node.name,)))
            else:
                spans.append((start, end, (node.name,)))
        blocks: list[Block] = []
        cursor = 0
        for start, end, symbol in spans:
            blocks.extend(_block(lines, s, e, ()) for s, e in _runs(lines, cursor, start - 1))
            blocks.extend(_block(lines, s, e, symbol) for s, e in _runs(lines, start, end))
            cursor = end + 1
        blocks.extend(_block(lines, s, e, ()) for s, e in _runs(lines, cursor, len(lines) - 1))
        return blocks

    def _by_pattern(self, lines: list[str]) -> list[Block]:
        blocks: list[Block] = []
        symbol: tuple[str, ...] = ()
        for start, end in _runs(lines, 0, len(lines) - 1):
            match = _DEFINITION.match(lines[start])
            if match:
                symbol = (match.group(1),)
            elif not lines[start][:1].isspace() and not lines[start].startswith(("#", "//", "/*", "*", "@", "}", ")")):
                symbol = ()  # module-level code after a definition belongs to no symbol
            blocks.append(_block(lines, start, end, symbol))
        return blocks
