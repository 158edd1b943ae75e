"""Pack a document's blocks into chunks that fit the embedder's token limit,
counted with the embedder's own tokenizer.

Structure first: a chunk starts at a heading once it holds a fair amount of
text, and packs whole paragraphs and code fences. Only a block larger than
the budget is split: at lines, then sentences, then word boundaries. The
heading path is prepended to the embedded text (not the displayed text), so
a chunk deep inside "Security > API keys" is found by questions about either.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from ragkit.indexers.base import Block, Document

_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")
HEADING_SEPARATOR = " > "


class TokenCounter(Protocol):
    """The embedder's tokenizer, as the chunker needs it."""

    def count(self, texts: list[str]) -> list[int]:
        """Tokens of each text, special tokens not included."""
        ...

    def word_cuts(self, text: str, max_tokens: int) -> list[int]:
        """Character offsets that cut `text` into pieces of at most
        `max_tokens` tokens, at word boundaries where a word allows."""
        ...


@dataclass(frozen=True)
class Chunk:
    text: str
    """What the user sees and the LLM reads."""
    embed_text: str
    """What is embedded: the heading path, then the text."""
    start_line: int
    end_line: int
    headings: tuple[str, ...]
    tokens: int
    """Tokens of embed_text, special tokens not included."""


@dataclass(frozen=True)
class _Piece:
    text: str
    start_line: int
    end_line: int
    tokens: int
    headings: tuple[str, ...]
    is_heading: bool


class Chunker:
    def __init__(self, counter: TokenCounter, max_tokens: int) -> None:
        """`max_tokens`: the largest embed_text, special tokens not included."""
        self.counter = counter
        self.max_tokens = max_tokens
        # Below this a chunk keeps packing past a heading rather than stand alone.
        self.min_tokens = max_tokens // 4

    def chunk(self, doc: Document) -> list[Chunk]:
        blocks = [b for b in doc.blocks if b.text.strip()]
        if not blocks:
            return []
        prefixes = self._prefixes({b.headings for b in blocks})
        counts = self.counter.count([b.text for b in blocks])
        pieces: list[_Piece] = []
        for block, tokens in zip(blocks, counts):
            limit = self.max_tokens - prefixes[block.headings][1]
            if tokens <= limit:
                pieces.append(
                    _Piece(block.text, block.start_line, block.end_line, tokens, block.headings, block.is_heading)
                )
            else:
                pieces.extend(self._split_block(block, limit))
        return self._pack(pieces, prefixes)

    def _prefixes(self, heading_paths: set[tuple[str, ...]]) -> dict[tuple[str, ...], tuple[str, int]]:
        """The embedded prefix of each heading path and its token count, cut
        to the innermost headings when a long path would crowd out the text."""
        paths = sorted(heading_paths)
        texts = [HEADING_SEPARATOR.join(p) for p in paths]
        counts = self.counter.count(texts)
        result = {}
        for path, text, tokens in zip(paths, texts, counts):
            keep = len(path)
            while tokens > self.max_tokens // 4 and keep > 0:
                keep -= 1
                text = HEADING_SEPARATOR.join(path[len(path) - keep :]) if keep else ""
                tokens = self.counter.count([text])[0] if text else 0
            result[path] = (text, tokens)
        return result

    def _split_block(self, block: Block, limit: int) -> list[_Piece]:
        """Split an oversized block at lines, then sentences, then words."""
        units: list[tuple[str, int]] = []  # (text, line number)
        for offset, line in enumerate(block.text.split("\n")):
            if line.strip():
                units.append((line, block.start_line + offset))
        counts = self.counter.count([u[0] for u in units])
        out: list[_Piece] = []
        for (text, line_no), tokens in zip(units, counts):
            if tokens <= limit:
                out.append(_Piece(text, line_no, line_no, tokens, block.headings, False))
                continue
            sentences = [s for s in _SENTENCE_END.split(text) if s.strip()]
            for sentence, s_tokens in zip(sentences, self.counter.count(sentences)):
                if s_tokens <= limit:
                    out.append(_Piece(sentence, line_no, line_no, s_tokens, block.headings, False))
                    continue
                cuts = [0, *self.counter.word_cuts(sentence, limit), len(sentence)]
                parts = [sentence[a:b].strip() for a, b in zip(cuts, cuts[1:])]
                parts = [p for p in parts if p]
                for part, p_tokens in zip(parts, self.counter.count(parts)):
                    out.append(_Piece(part, line_no, line_no, p_tokens, block.headings, False))
        return out

    def _pack(self, pieces: list[_Piece], prefixes: dict[tuple[str, ...], tuple[str, int]]) -> list[Chunk]:
        chunks: list[Chunk] = []
        current: list[_Piece] = []
        used = 0
        budget = 0

        def emit() -> None:
            head = current[0]
            prefix = prefixes[head.headings][0]
            parts = [head.text]
            for prev, piece in zip(current, current[1:]):
                gap = piece.start_line - prev.end_line
                parts.append(" " if gap <= 0 else "\n" * min(gap, 2))
                parts.append(piece.text)
            text = "".join(parts)
            embed_text = f"{prefix}\n{text}" if prefix else text
            tokens = used + prefixes[head.headings][1]
            chunks.append(Chunk(text, embed_text, head.start_line, current[-1].end_line, head.headings, tokens))

        for piece in pieces:
            starts_section = piece.is_heading and used >= self.min_tokens
            if current and (starts_section or used + piece.tokens > budget):
                emit()
                current, used = [], 0
            if not current:
                budget = self.max_tokens - prefixes[piece.headings][1]
            current.append(piece)
            used += piece.tokens
        if current:
            emit()
        return chunks
