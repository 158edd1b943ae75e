"""Prompt templates, kept as files so they can be read and edited on their own.

Placeholders use str.format syntax: {passages}, {question}, {number},
{location}, {text}."""

from __future__ import annotations

from functools import cache
from importlib.resources import files


@cache
def load_prompt(name: str) -> str:
    """The template ragkit/prompts/NAME.txt, without its final newline."""
    return files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8").removesuffix("\n")
