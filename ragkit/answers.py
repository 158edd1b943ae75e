"""What search and ask return."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ragkit.cancel import CancelToken
from ragkit.retrieval.retriever import Retrieval


@dataclass(frozen=True)
class Source:
    """A passage from the user's documents."""

    number: int
    """Its rank in search results; its [number] in an answer's prompt."""
    path: str
    start_line: int | None
    end_line: int | None
    score: float
    text: str
    headings: str = ""
    page: int | None = None
    """PDF page or slide number where the passage starts."""
    end_page: int | None = None
    kind: str = ""
    """The document format: markdown, pdf, pptx, code, ..."""
    chunk: int | None = None
    """Position of the passage's (first) chunk in its file."""
    retrieval: Retrieval | None = None
    """Which retrievers found it, at what rank: see `--explain`."""

    def location(self, relative_to: Path | None = None) -> str:
        """`docs/keys.md:12-30`, `manual.pdf p. 4`, `deck.pptx slide 3`, or for
        formats without lines or pages `book.epub (Chapter > Section)`;
        relative to the current directory when the file is under it."""
        path = self.path
        base = relative_to or Path.cwd()
        with contextlib.suppress(ValueError):  # another drive on Windows
            path = os.path.relpath(self.path, base) if Path(self.path).is_relative_to(base) else self.path
        if self.page is not None:
            word = "slide" if self.kind == "pptx" else "p."
            if self.end_page is not None and self.end_page != self.page:
                return f"{path} {'slides' if self.kind == 'pptx' else 'pp.'} {self.page}-{self.end_page}"
            return f"{path} {word} {self.page}"
        if self.start_line is None:
            return f"{path} ({self.headings})" if self.headings else path
        if self.end_line is None or self.end_line == self.start_line:
            return f"{path}:{self.start_line}"
        return f"{path}:{self.start_line}-{self.end_line}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    sources: list[Source]
    """The passages the model was given, numbered as in the prompt."""
    cited: list[int]
    """Numbers of the given passages that the answer cites."""
    model: str
    prompt_tokens: int
    n_ctx: int
    warning: str | None = None
    invalid_citations: list[int] = field(default_factory=list)
    """Numbers the model cited that match no given passage; removed from `text`."""
    found: bool = True
    """False when no passage was relevant enough to ask the model (`not_found_reason` says why,
    `sources` are the nearest passages) or when the model said the passages lack the answer."""
    not_found_reason: str | None = None
    stopped: bool = False
    """Generation was stopped before the model finished (Ctrl-C); `text` is what it wrote until then."""
    cached: bool = False
    """Given before for the same question, index state, model and settings, and returned from the answer
    cache without running the model."""

    @property
    def cited_sources(self) -> list[Source]:
        return [s for s in self.sources if s.number in self.cited]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["sources"] = [s.to_dict() for s in self.sources]
        return data


NOT_FOUND_TEXT = "I cannot find the answer in the provided documents."
# What phi-3 and other instruction-tuned models write when the passages lack the answer.
_NOT_FOUND = re.compile(
    r"\b(?:can ?not|can't|could not|couldn't|unable to) (?:find|locate|determine|answer)\b"
    r"|\b(?:do|does) not (?:contain|mention|include|provide|say)\b"
    r"|\bno (?:information|mention|passage)\b",
    re.IGNORECASE,
)


def says_not_found(text: str) -> bool:
    """The answer declines (in its first sentence), rather than answering."""
    first = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    return bool(_NOT_FOUND.search(first))


_CITATION = re.compile(r"\[(\d+(?:\s*,\s*\d+)*)\]")


def parse_citations(text: str, n_sources: int) -> list[int]:
    """Passage numbers cited as [1], [2][3] or [1, 2]; numbers of passages
    that were not given are dropped."""
    found: set[int] = set()
    for group in _CITATION.findall(text):
        found.update(int(n) for n in group.split(","))
    return sorted(n for n in found if 1 <= n <= n_sources)


def check_citations(text: str, n_sources: int) -> tuple[str, list[int], list[int]]:
    """(text without citations of passages that were not given, valid
    numbers cited, invalid numbers removed): a model that cites [7] of
    five passages points the reader at nothing."""
    invalid: set[int] = set()

    def keep_valid(match: re.Match[str]) -> str:
        numbers = [int(n) for n in match.group(1).split(",")]
        valid = [n for n in numbers if 1 <= n <= n_sources]
        invalid.update(n for n in numbers if not 1 <= n <= n_sources)
        return f"[{', '.join(str(n) for n in valid)}]" if valid else ""

    cleaned = _CITATION.sub(keep_valid, text)
    if invalid:
        cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)  # "fact [9]." lost its citation, not its full stop
        cleaned = re.sub(r"[ \t]{2,}", " ", cleaned).strip()
    return cleaned, parse_citations(cleaned, n_sources), sorted(invalid)


def generated_answer(
    question: str,
    text: str,
    sources: list[Source],
    *,
    model: str,
    prompt_tokens: int,
    n_ctx: int,
    warning: str | None,
) -> Answer:
    """The Answer for what a model wrote from `sources`: citations checked
    (those of passages not given removed), and "not found" when it declined."""
    text, cited, invalid = check_citations(text.strip(), len(sources))
    declined = says_not_found(text)
    return Answer(
        question=question,
        text=text,
        sources=sources,
        cited=cited,
        invalid_citations=invalid,
        model=model,
        prompt_tokens=prompt_tokens,
        n_ctx=n_ctx,
        warning=warning,
        found=not declined,
        not_found_reason="the model found no answer in the passages" if declined else None,
    )


@dataclass
class AnswerStream:
    """Iterate for the answer's text as it is generated; `sources` are known
    before the first token, `answer` is set once the iteration ends."""

    sources: list[Source]
    model: str
    warning: str | None
    _tokens: Iterator[str]
    _finish: Callable[[str], Answer]
    prompt: str = ""
    """Exactly what the model was given (`ragkit ask --show-context`)."""
    answer: Answer | None = field(default=None, init=False)

    on_answer: Callable[[Answer], None] | None = None
    """Called with the answer when the stream ends, also when it was stopped."""
    cancel_token: CancelToken = field(default_factory=CancelToken)
    """The token the model checks; `cancel()` sets it."""
    on_complete: Callable[[Answer], None] | None = field(default=None, repr=False)
    """Called with the answer only when the model finished it (not stopped): what may be cached."""

    def cancel(self) -> None:
        """Stop the answer from any thread, also while the prompt is being evaluated: the
        iteration ends soon after, and `answer` holds what was generated, `stopped`."""
        self.cancel_token.cancel()

    def __iter__(self) -> Iterator[str]:
        parts: list[str] = []
        try:
            for token in self._tokens:
                parts.append(token)
                yield token
        except BaseException:
            # Stopped (Ctrl-C, or the consumer closed the stream): what was
            # generated so far is still an answer, marked as stopped.
            close = getattr(self._tokens, "close", None)
            if close is not None:
                close()
            self._settle(dataclasses.replace(self._finish("".join(parts)), stopped=True))
            raise
        answer = self._finish("".join(parts))
        if self.cancel_token.cancelled:
            answer = dataclasses.replace(answer, stopped=True)
        elif self.on_complete is not None:
            self.on_complete(answer)
        self._settle(answer)

    def _settle(self, answer: Answer) -> None:
        self.answer = answer
        if self.on_answer is not None:
            self.on_answer(answer)
