"""Pack a document's blocks into chunks that fit the embedder's token limit,
counted with the embedder's own tokenizer.

Structure first: a chunk starts at a heading (or a new page or slide) once
it holds a fair amount of text, and packs whole paragraphs and code blocks.
Only a block larger than the budget is split: at lines, then sentences, then
word boundaries; code is split only between lines. A tiny last piece of a
section joins the chunk before it. The heading path is prepended to the
embedded text (not the displayed text), so a chunk deep inside
"Security > API keys" is found by questions about either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from ragkit.indexers.base import Block, Document
from ragkit.languages import CLOSERS, FULL_STOPS, UNSPACED_CHAR, UNSPACED_SENTENCE_END

# Sentences end at . ! ? ; : before a space, and at 。！？； (closing quotes included) with no space after.
_SENTENCE_END = re.compile(rf"(?<=[.!?;:])\s+|{UNSPACED_SENTENCE_END}")
HEADING_SEPARATOR = " > "
# Markdown links and images: the embedder sees the link text, not the URL. URLs are a
# quarter of all word pieces in FastAPI's docs and carry little meaning for a sentence
# embedder; the displayed text keeps them for the reader and the LLM.
_MD_LINK = re.compile(r"(!?)\[([^\]\n]*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"\n]*\")?\)(?:\{[^}\n]*\})?")
_MD_REFERENCE = re.compile(r"^ {0,3}\[[^\]\n]+\]:\s+\S+.*$", re.MULTILINE)
_LINK_KINDS = frozenset({"markdown", "notebook"})


def strip_link_targets(text: str) -> str:
    """`[the docs](https://x.y/z)` -> `the docs`; reference definitions dropped."""
    return _MD_REFERENCE.sub("", _MD_LINK.sub(lambda m: m.group(2), text))


def _unspaced_join(before: str, after: str) -> bool:
    """Two pieces of one line of Chinese or Japanese join without a space (they were cut at a 。)."""
    return (
        bool(before)
        and bool(after)
        and bool(UNSPACED_CHAR.match(after[0]))
        and (before[-1] in FULL_STOPS + CLOSERS or bool(UNSPACED_CHAR.match(before[-1])))
    )


def _same(text: str) -> str:
    return text


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
    page: int | None = None
    end_page: int | None = None


@dataclass(frozen=True)
class _Piece:
    text: str
    embed: str
    """The text as embedded (link targets removed for Markdown)."""
    start_line: int
    end_line: int
    tokens: int
    headings: tuple[str, ...]
    is_heading: bool
    page: int | None


class Chunker:
    def __init__(self, counter: TokenCounter, max_tokens: int, overlap_tokens: int = 0) -> None:
        """`max_tokens`: the largest embed_text, special tokens not included.
        `overlap_tokens`: text repeated from the end of a chunk at the start of
        the next one in the same section, at most this many tokens."""
        self.counter = counter
        self.max_tokens = max_tokens
        self.overlap_tokens = max(0, min(overlap_tokens, max_tokens // 2))
        # Below this a chunk keeps packing past a heading rather than stand alone.
        self.min_tokens = max_tokens // 4
        # A section's last chunk smaller than this joins the chunk before it when it fits.
        self.tiny_tokens = max_tokens // 8

    def chunk(self, doc: Document) -> list[Chunk]:
        blocks = [b for b in doc.blocks if b.text.strip()]
        if not blocks:
            return []
        prefixes = self._prefixes({b.headings for b in blocks})
        forms = [strip_link_targets if doc.kind in _LINK_KINDS and not b.is_code else _same for b in blocks]
        embeds = [form(b.text) for b, form in zip(blocks, forms)]
        counts = self.counter.count(embeds)
        pieces: list[_Piece] = []
        for block, form, embed, tokens in zip(blocks, forms, embeds, counts):
            limit = self.max_tokens - prefixes[block.headings][1]
            if tokens <= limit:
                pieces.append(
                    _Piece(block.text, embed, block.start_line, block.end_line, tokens, block.headings,
                           block.is_heading, block.page)
                )  # fmt: skip
            else:
                pieces.extend(self._split_block(block, limit, form))
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

    def _split_block(self, block: Block, limit: int, embed_form: Callable[[str], str]) -> list[_Piece]:
        """Split an oversized block at lines, then (prose only) sentences, then words."""
        units: list[tuple[str, int]] = []  # (text, line number)
        for offset, line in enumerate(block.text.split("\n")):
            if line.strip():
                units.append((line, min(block.start_line + offset, block.end_line)))
        out: list[_Piece] = []

        def pieces(texts: list[str], line_no: int) -> list[tuple[_Piece, bool]]:
            """Each text as a piece, and whether it fits the limit."""
            embeds = [embed_form(t) for t in texts]
            return [
                (_Piece(t, e, line_no, line_no, n, block.headings, False, block.page), n <= limit)
                for t, e, n in zip(texts, embeds, self.counter.count(embeds))
            ]

        for text, line_no in units:
            [(whole, fits)] = pieces([text], line_no)
            if fits:
                out.append(whole)
                continue
            # A code line longer than the whole budget (minified code) can only be cut at words.
            sentences = [text] if block.is_code else [s for s in _SENTENCE_END.split(text) if s.strip()]
            for sentence, fits in pieces(sentences, line_no):
                if fits:
                    out.append(sentence)
                    continue
                # Cut the displayed text; its embedded form is no longer, so every part fits.
                cuts = [0, *self.counter.word_cuts(sentence.text, limit), len(sentence.text)]
                parts = [sentence.text[a:b].strip() for a, b in zip(cuts, cuts[1:])]
                out.extend(p for p, _ in pieces([p for p in parts if p], line_no))
        return out

    def _pack(self, pieces: list[_Piece], prefixes: dict[tuple[str, ...], tuple[str, int]]) -> list[Chunk]:
        groups: list[list[_Piece]] = []
        current: list[_Piece] = []
        used = 0
        budget = 0
        for piece in pieces:
            new_page = bool(current) and piece.page is not None and piece.page != current[-1].page
            starts_section = (piece.is_heading or new_page) and used >= self.min_tokens
            if current and (starts_section or used + piece.tokens > budget):
                groups.append(current)
                carried = [] if starts_section else self._overlap(current, piece, budget)
                current, used = carried, sum(p.tokens for p in carried)
            if not current:
                budget = self.max_tokens - prefixes[piece.headings][1]
            current.append(piece)
            used += piece.tokens
        if current:
            groups.append(current)
        return [self._emit(g, prefixes) for g in self._merge_tiny(groups, prefixes)]

    def _overlap(self, previous: list[_Piece], nxt: _Piece, budget: int) -> list[_Piece]:
        """The last pieces of `previous` (same section, within the overlap size) to repeat before `nxt`."""
        if not self.overlap_tokens:
            return []
        carried: list[_Piece] = []
        total = 0
        for piece in reversed(previous):
            if piece.is_heading or piece.headings != nxt.headings:
                break
            if total + piece.tokens > self.overlap_tokens or total + piece.tokens + nxt.tokens > budget:
                break
            carried.insert(0, piece)
            total += piece.tokens
        return carried if len(carried) < len(previous) else []

    def _merge_tiny(
        self, groups: list[list[_Piece]], prefixes: dict[tuple[str, ...], tuple[str, int]]
    ) -> list[list[_Piece]]:
        merged: list[list[_Piece]] = []
        for group in groups:
            same_section = merged and group[0].headings == merged[-1][0].headings
            # A new page or slide keeps its own chunk, so its citation stays exact.
            if same_section and not group[0].is_heading and group[0].page == merged[-1][-1].page:
                prev = merged[-1]
                # Pieces repeated as overlap are already in the chunk before.
                new = [p for p in group if all(p is not q for q in prev)]
                tokens = sum(p.tokens for p in new)
                fits = sum(p.tokens for p in prev) + tokens + prefixes[prev[0].headings][1] <= self.max_tokens
                if tokens < self.tiny_tokens and fits:
                    merged[-1] = prev + new
                    continue
                if tokens < self.tiny_tokens and len(new) == len(group):
                    # Too big to merge: move whole pieces from the chunk before until both are fair-sized.
                    budget = self.max_tokens - prefixes[group[0].headings][1]
                    while len(prev) > 1 and not prev[-1].is_heading and tokens < self.tiny_tokens:
                        moved = prev[-1]
                        if tokens + moved.tokens > budget or sum(p.tokens for p in prev) - moved.tokens < tokens:
                            break
                        prev, group = prev[:-1], [moved, *group]
                        tokens += moved.tokens
                    merged[-1] = prev
            merged.append(group)
        return merged

    def _emit(self, group: list[_Piece], prefixes: dict[tuple[str, ...], tuple[str, int]]) -> Chunk:
        head = group[0]
        prefix, prefix_tokens = prefixes[head.headings]
        parts, embeds = [head.text], [head.embed]
        for prev, piece in zip(group, group[1:]):
            gap = piece.start_line - prev.end_line
            separator = ("" if _unspaced_join(prev.text, piece.text) else " ") if gap <= 0 else "\n" * min(gap, 2)
            parts += [separator, piece.text]
            embeds += [separator, piece.embed]
        text, embedded = "".join(parts), "".join(embeds)
        embed_text = f"{prefix}\n{embedded}" if prefix else embedded
        tokens = sum(p.tokens for p in group) + prefix_tokens
        pages = [p.page for p in group if p.page is not None]
        return Chunk(
            text, embed_text, head.start_line, group[-1].end_line, head.headings, tokens,
            page=pages[0] if pages else None, end_page=pages[-1] if pages else None,
        )  # fmt: skip
