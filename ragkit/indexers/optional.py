"""Parsers for some formats come with extras (`pip install 'ragkit[pdf]'`);
a file whose parser is missing is skipped with that install line."""

from __future__ import annotations

import importlib.util

from ragkit.errors import DocumentError


class MissingParserError(DocumentError):
    def __init__(self, format_name: str, extra: str) -> None:
        super().__init__("", f"{format_name} support is not installed: pip install 'ragkit[{extra}]'")


def require(module: str, format_name: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise MissingParserError(format_name, extra)


# The optional parser modules, by the import name `require` is given.
OPTIONAL_PARSERS = ("pypdfium2", "docx", "pptx", "openpyxl", "xlrd", "striprtf", "ebooklib", "extract_msg", "rapidocr")


def installed_parsers() -> list[str]:
    return [name for name in OPTIONAL_PARSERS if importlib.util.find_spec(name) is not None]
