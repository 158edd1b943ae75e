"""Query-aware pruning of retrieved passages: keep the sentences that bear on
the question, drop the rest, and drop passages far less relevant than the best.

Every prompt token costs the user time (phi-3-mini evaluates 20-30 tokens/s
on a laptop CPU), and most of a retrieved passage is not the answer. The
best-ranked chunk is given whole (`keep_whole`: retrieval's first choice
holds the answer most often); the rest is cut into units: sentences of
prose, lines of a table, whole fenced code blocks (and blank-line-separated
blocks of source code), which are kept or dropped whole. Units are scored against the question with what
ragkit already has, the embedder (cosine) and term overlap weighted by
rarity among the candidates; the best units, with `neighbours` on each side
to read naturally, are kept in document order, with an elision mark where
text was left out. Headings stay. Line numbers follow what was kept, so
citations point at it."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from ragkit.answers import Source
from ragkit.embedders import Embedder, embed_queries
from ragkit.embedding_models import cosine_floor
from ragkit.languages import UNSPACED_SENTENCE_END, keyword_tokens
from ragkit.retrieval.lexical import query_words

ELISION = "…"

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
# A sentence ends at . ! ? (maybe followed by a closing quote or bracket) before
# whitespace and an opening capital, digit, quote or bracket; in Chinese and Japanese
# at 。！？； (and … runs), closing quotes included, with or without a space after.
_SENTENCE_END = re.compile(
    r"(?<=[.!?])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])"
    rf"|{UNSPACED_SENTENCE_END}"
)


@dataclass(frozen=True)
class PruneOptions:
    enabled: bool = True
    unit_margin: float = 0.4
    """A unit is kept when its score is within this of the best unit's (of all passages)."""
    passage_margin: float = 0.3
    """A passage is dropped when its best unit scores more than this below the best unit of all."""
    neighbours: int = 1
    """Units kept on each side of a kept unit, for reading flow."""
    lexical_weight: float = 0.5
    """Weight of term overlap beside the embedder's cosine similarity."""
    min_units: int = 1
    """Units each kept passage keeps at least (its best ones)."""
    keep_whole: int = 1
    """The first retrieval results given whole and never dropped (within a passage of neighbouring chunks
    joined, that chunk only): retrieval's first choice holds the answer most often, and sentence scores are
    least sure of it where the answer does not repeat the question's words."""


@dataclass(frozen=True)
class Unit:
    start: int
    end: int
    """Character span in the passage's text."""
    heading: bool = False
    """A Markdown heading line: always kept."""


def split_units(text: str, kind: str = "") -> list[Unit]:
    """The passage cut into what is kept or dropped whole, in order."""
    units: list[Unit] = []
    fences = [(m.start(), m.end()) for m in _FENCE.finditer(text)]
    position = 0
    for start, end in [*fences, (len(text), len(text))]:
        units.extend(_units_between(text, position, start, kind))
        if end > start:
            units.append(Unit(start, end))
        position = end
    return units


def _units_between(text: str, begin: int, stop: int, kind: str) -> list[Unit]:
    units: list[Unit] = []
    if kind == "code":
        # Source code: blocks between blank lines (a function, a group of statements).
        for m in re.finditer(r"\S(?:.*\S)?(?:\n[ \t]*\S.*)*", text[begin:stop]):
            units.append(Unit(begin + m.start(), begin + m.start() + len(m.group().rstrip())))
        return units
    # Prose is often hard-wrapped: a sentence runs on over the next lines, so lines of one paragraph (or one
    # list item) are joined before sentences are cut; headings and table rows stand alone.
    offset = begin
    block: tuple[int, int] | None = None  # the paragraph being gathered: start, end
    for line in text[begin:stop].split("\n"):
        stripped = line.strip()
        lead = offset + len(line) - len(line.lstrip())
        standalone = bool(re.match(r"#{1,6}\s", stripped)) or stripped.startswith("|") or "\t" in stripped
        starts_item = bool(re.match(r"([-*+]|\d{1,3}[.)])\s", stripped))
        if block is not None and (not stripped or standalone or starts_item):
            units.extend(_sentences(text, *block))
            block = None
        if not stripped:
            pass
        elif standalone:
            units.append(Unit(lead, lead + len(stripped), heading=stripped.startswith("#")))
        elif block is None:
            block = (lead, lead + len(stripped))
        else:
            block = (block[0], lead + len(stripped))
        offset += len(line) + 1
    if block is not None:
        units.extend(_sentences(text, *block))
    return units


def _sentences(text: str, start: int, end: int) -> list[Unit]:
    units: list[Unit] = []
    cut = start
    for m in _SENTENCE_END.finditer(text, start, end):
        units.append(Unit(cut, m.start()))
        cut = m.end()
    units.append(Unit(cut, end))
    return units


def _stem(word: str) -> str:
    """A light suffix strip, so "allow" finds "allowed" (the keyword index
    stems with Porter inside SQLite, out of reach here)."""
    for suffix in ("ing", "ed", "es", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _terms(text: str) -> set[str]:
    return {_stem(w) for w in keyword_tokens(text)}


def lexical_scores(question: str, texts: Sequence[str]) -> list[float]:
    """Share of the question's words found in each text, each word weighted
    by how rare it is among `texts` (a word every unit has tells nothing)."""
    words = list(dict.fromkeys(_stem(w) for w in query_words(question)))
    if not words or not texts:
        return [0.0] * len(texts)
    term_sets = [_terms(t) for t in texts]
    frequency = Counter(w for terms in term_sets for w in set(words) & terms)
    weights = {w: math.log(1 + len(texts) / (1 + frequency[w])) for w in words}
    total = sum(weights.values()) or 1.0
    return [sum(weights[w] for w in words if w in terms) / total for terms in term_sets]


class SentencePruner:
    """Prunes a prompt's passages to the units that bear on the question."""

    def __init__(self, embedder: Embedder, options: PruneOptions | None = None) -> None:
        self.embedder = embedder
        self.options = options or PruneOptions()

    def scores(self, question: str | Sequence[str], passages: Sequence[Source]) -> list[list[float]]:
        """Each unit's relevance to the question, per passage; given several forms
        of the question (a chat follow-up and its standalone rewrite), the best."""
        queries = [question] if isinstance(question, str) else list(dict.fromkeys(question))
        units = [split_units(p.text, p.kind) for p in passages]
        texts = [p.text[u.start : u.end] for p, us in zip(passages, units) for u in us]
        if not texts:
            return [[] for _ in passages]
        query_vectors = embed_queries(self.embedder, queries)
        unit_vectors = self.embedder.embed(texts)
        floor = cosine_floor(self.embedder.model_id)
        combined = np.full(len(texts), -np.inf)
        for number, query in enumerate(queries):
            dense = ((unit_vectors @ query_vectors[number]).astype(float) - floor) / (1.0 - floor)
            lexical = np.asarray(lexical_scores(query, texts))
            combined = np.maximum(combined, dense + self.options.lexical_weight * lexical)
        flat = combined.tolist()
        result: list[list[float]] = []
        for us in units:
            result.append(flat[: len(us)])
            flat = flat[len(us) :]
        return result

    def prune(
        self, question: str | Sequence[str], passages: Sequence[Source], ranked: Sequence[Source] | None = None
    ) -> list[Source]:
        """`ranked`: the retrieval results before neighbouring chunks were joined into `passages` (by default
        `passages` themselves); the first `keep_whole` of them are given whole."""
        if not self.options.enabled or not passages:
            return list(passages)
        whole = [r.text for r in (passages if ranked is None else ranked)[: self.options.keep_whole]]
        return select(passages, self.scores(question, passages), self.options, whole)


def select(
    passages: Sequence[Source], scores: list[list[float]], options: PruneOptions, whole: Sequence[str] = ()
) -> list[Source]:
    """The passages worth keeping, each cut to its best units, renumbered in rank order; the units of the
    `whole` texts (chunks the passages hold) are all kept, and a passage holding one is never dropped."""
    best = max((max(s) for s in scores if s), default=0.0)
    kept: list[Source] = []
    for passage, unit_scores in zip(passages, scores):
        units = split_units(passage.text, passage.kind)
        if not units or not unit_scores:
            continue
        forced = _units_within(passage.text, units, whole)
        if not forced and max(unit_scores) < best - options.passage_margin:
            continue
        chosen = {i for i, score in enumerate(unit_scores) if score >= best - options.unit_margin}
        ranked = sorted(range(len(units)), key=lambda i: -unit_scores[i])
        chosen.update(ranked[: options.min_units])
        for i in list(chosen):
            chosen.update(range(max(0, i - options.neighbours), min(len(units), i + options.neighbours + 1)))
        chosen = {i for i in chosen if not units[i].heading}
        chosen.update(_headings_over(passage.text, units, chosen))
        chosen.update(forced)
        kept.append(replace(_cut(passage, units, sorted(chosen)), number=len(kept) + 1))
    return kept


def _units_within(text: str, units: list[Unit], whole: Sequence[str]) -> set[int]:
    """The units that overlap one of the `whole` texts where it stands in `text`."""
    spans = [(start, start + len(w)) for w in whole if w and (start := text.find(w)) >= 0]
    return {i for i, u in enumerate(units) if any(u.start < end and u.end > start for start, end in spans)}


def _headings_over(text: str, units: list[Unit], chosen: set[int]) -> set[int]:
    """The headings of the sections kept units sit in (their heading path): a
    heading stays when kept text follows it before the next heading of the
    same or a higher level."""
    kept: set[int] = set()
    for i, unit in enumerate(units):
        if not unit.heading:
            continue
        level = _level(text, unit)
        for j in range(i + 1, len(units)):
            if units[j].heading and _level(text, units[j]) <= level:
                break
            if j in chosen:
                kept.add(i)
                break
    return kept


def _level(text: str, unit: Unit) -> int:
    return len(text[unit.start : unit.end]) - len(text[unit.start : unit.end].lstrip("#"))


def _cut(passage: Source, units: list[Unit], chosen: list[int]) -> Source:
    """The passage with only the `chosen` units, an elision mark where others were left out."""
    if len(chosen) == len(units):
        return passage
    text = passage.text
    pieces: list[str] = []
    if chosen[0] != 0 or text[: units[0].start].strip():
        pieces.append(ELISION + " ")
    for position, i in enumerate(chosen):
        unit = units[i]
        if position:
            previous = chosen[position - 1]
            gap = text[units[previous].end : unit.start]
            if i == previous + 1:
                pieces.append(gap)
            else:
                pieces.append(
                    "\n" + ELISION + "\n" if "\n" in text[units[previous].end : unit.start] else f" {ELISION} "
                )
        pieces.append(text[unit.start : unit.end])
    if chosen[-1] != len(units) - 1 or text[units[-1].end :].strip():
        pieces.append(" " + ELISION)
    first, last = units[chosen[0]], units[chosen[-1]]
    start_line, end_line = passage.start_line, passage.end_line
    if passage.start_line is not None:
        start_line = passage.start_line + text.count("\n", 0, first.start)
        end_line = passage.start_line + text.count("\n", 0, last.end)
    return replace(passage, text="".join(pieces), start_line=start_line, end_line=end_line)
