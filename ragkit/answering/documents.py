"""Whole-document answers: for questions a few retrieved passages cannot
answer (summaries, comparisons, counting), the model reads entire files.

The document is cut into sections of consecutive chunks (each keeps its
lines or pages, so citations stay precise). When every section fits in one
context (up to `doc_ctx`, 128K for phi-3-mini-128k) and in free memory, the
model reads them all at once. Otherwise it reads them part by part, taking
cited notes of what bears on the question (map), and answers from the
notes (reduce), condensing the notes first if even they do not fit."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ragkit.answering.llm import LLM, choose_n_ctx
from ragkit.answering.prompting import build_prompt, passages_text, render_task, stops_for
from ragkit.answers import Answer, AnswerStream, Source, generated_answer
from ragkit.cancel import CancelToken
from ragkit.errors import ContextMemoryError
from ragkit.retrieval.lexical import KeywordHit

log = logging.getLogger(__name__)

SECTION_TOKENS = 768
NOTE_TOKENS = 256
MAX_CONDENSE_ROUNDS = 4


@dataclass(frozen=True)
class DocumentProgress:
    """Reading a long document part by part: `phase` is "read" (taking notes
    from the document's parts) or "condense" (shortening the notes)."""

    phase: str
    done: int
    total: int


DocumentProgressCallback = Callable[[DocumentProgress], None]


def sections_of(llm: LLM, chunks_by_file: list[list[KeywordHit]], max_tokens: int) -> list[Source]:
    """Consecutive chunks of each file joined into sections of at most
    `max_tokens` LLM tokens, numbered 1..n across all files."""
    sections: list[Source] = []
    for chunks in chunks_by_file:
        group: list[KeywordHit] = []
        used = 0
        for chunk in chunks:
            cost = llm.count_tokens(chunk.text) + 1
            if group and used + cost > max_tokens:
                sections.append(_section(len(sections) + 1, group))
                group, used = [], 0
            group.append(chunk)
            used += cost
        if group:
            sections.append(_section(len(sections) + 1, group))
    return sections


def _section(number: int, chunks: list[KeywordHit]) -> Source:
    first, last = chunks[0].meta, chunks[-1].meta

    def number_or_none(value: object) -> int | None:
        return int(value) if isinstance(value, (int, float)) else None

    end_line = number_or_none(last.get("end_line"))
    end_page = number_or_none(last.get("end_page")) or number_or_none(last.get("page"))
    return Source(
        number=number,
        path=chunks[0].path,
        start_line=number_or_none(first.get("start_line")),
        end_line=end_line if end_line is not None else number_or_none(first.get("end_line")),
        score=0.0,
        text="\n".join(c.text for c in chunks),
        headings=str(first.get("headings", "")),
        page=number_or_none(first.get("page")),
        end_page=end_page,
        kind=str(first.get("kind", "")),
        chunk=number_or_none(first.get("chunk")),
    )


@dataclass
class DocumentReader:
    """Answers one question from whole documents with one LLM."""

    llm: LLM
    max_tokens: int
    temperature: float
    doc_ctx: int
    """Largest context a single whole-document read may use."""
    part_ctx: int
    """Context of each part when the documents are read part by part."""
    warning: str | None = None
    cancel: CancelToken = field(default_factory=CancelToken)
    """Stops the reading (between parts, and inside the model's evaluation) and the answer."""

    def answer(
        self, question: str, sections: list[Source], on_progress: DocumentProgressCallback | None = None
    ) -> AnswerStream:
        whole = self._whole(question, sections)
        if whole is not None:
            return whole
        return self._map_reduce(question, sections, on_progress)

    def _whole(self, question: str, sections: list[Source]) -> AnswerStream | None:
        llm = self.llm
        ctx_limit = min(self.doc_ctx, llm.n_ctx_train)
        prompt = build_prompt(llm, question, sections, ctx_limit=ctx_limit, max_tokens=self.max_tokens)
        if len(prompt.sources) < len(sections):
            log.info("the documents need more than %d tokens: reading them part by part", ctx_limit)
            return None
        n_ctx = choose_n_ctx(prompt.tokens, self.max_tokens, ctx_limit)
        plan = getattr(llm, "plan", None)
        if plan is not None:
            try:
                plan(n_ctx)
            except ContextMemoryError as exc:
                log.info("reading the documents part by part: %s", exc.message)
                return None
        tokens = llm.stream(
            prompt.text,
            n_ctx=n_ctx,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            stop=prompt.stop,
            prefix=prompt.prefix,
            cancel=self.cancel,
        )
        return self._stream(question, sections, tokens, prompt.text, prompt.tokens, n_ctx)

    def _map_reduce(
        self, question: str, sections: list[Source], on_progress: DocumentProgressCallback | None
    ) -> AnswerStream:
        llm = self.llm
        ctx = min(self.part_ctx, llm.n_ctx_train)
        note_tokens = min(NOTE_TOKENS, self.max_tokens)
        batches = self._pack(question, sections, ctx - note_tokens)
        notes: list[str] = []
        for done, batch in enumerate(batches):
            if self.cancel.cancelled:
                break
            if on_progress:
                on_progress(DocumentProgress("read", done, len(batches)))
            note = self._notes(question, passages_text(batch), ctx, note_tokens)
            if note:
                notes.append(note)
        if on_progress and not self.cancel.cancelled:
            on_progress(DocumentProgress("read", len(batches), len(batches)))
        notes = self._condense(question, notes, ctx, note_tokens, on_progress)
        prompt = self._render("doc_reduce", notes="\n\n".join(notes), question=question)
        tokens_used = llm.count_tokens(prompt)
        n_ctx = choose_n_ctx(tokens_used, self.max_tokens, ctx)
        tokens = llm.stream(
            prompt, n_ctx=n_ctx, max_tokens=self.max_tokens, temperature=self.temperature, stop=stops_for(llm),
            cancel=self.cancel,
        )  # fmt: skip
        return self._stream(question, sections, tokens, prompt, tokens_used, n_ctx)

    def _pack(self, question: str, sections: list[Source], budget: int) -> list[list[Source]]:
        """Consecutive sections grouped so each group's prompt fits `budget`."""
        base = self.llm.count_tokens(self._render("doc_map", passages="", question=question))
        batches: list[list[Source]] = []
        used = budget  # forces a new batch for the first section
        for section in sections:
            cost = self.llm.count_tokens(passages_text([section])) + 2
            if used + cost > budget and (not batches or batches[-1]):
                batches.append([])
                used = base
            batches[-1].append(section)
            used += cost
        return [b for b in batches if b]

    def _notes(self, question: str, passages: str, ctx: int, note_tokens: int) -> str:
        prompt = self._render("doc_map", passages=passages, question=question)
        n_ctx = choose_n_ctx(self.llm.count_tokens(prompt), note_tokens, ctx)
        text = "".join(
            self.llm.stream(
                prompt,
                n_ctx=n_ctx,
                max_tokens=note_tokens,
                temperature=self.temperature,
                stop=stops_for(self.llm),
                cancel=self.cancel,
            )
        ).strip()
        return "" if not text or text.upper().startswith("NONE") else text

    def _condense(
        self,
        question: str,
        notes: list[str],
        ctx: int,
        note_tokens: int,
        on_progress: DocumentProgressCallback | None,
    ) -> list[str]:
        """Shorten the notes until the final prompt fits: groups of notes are
        read again like parts of the document."""
        budget = ctx - self.max_tokens - self.llm.count_tokens(self._render("doc_reduce", notes="", question=question))
        part_budget = ctx - note_tokens - self.llm.count_tokens(self._render("doc_map", passages="", question=question))
        for _ in range(MAX_CONDENSE_ROUNDS):
            if self.cancel.cancelled:
                break
            sizes = [self.llm.count_tokens(n) + 2 for n in notes]
            if sum(sizes) <= budget or len(notes) <= 1:
                break
            groups: list[list[str]] = [[]]
            used = 0
            for note, size in zip(notes, sizes, strict=True):
                if groups[-1] and used + size > part_budget:
                    groups.append([])
                    used = 0
                groups[-1].append(note)
                used += size
            condensed = []
            for done, group in enumerate(groups):
                if on_progress:
                    on_progress(DocumentProgress("condense", done, len(groups)))
                note = self._notes(question, "\n\n".join(group), ctx, note_tokens)
                if note:
                    condensed.append(note)
            notes = condensed
        kept: list[str] = []
        used = 0
        for note in notes:  # still too long after the rounds: keep what fits, in document order
            size = self.llm.count_tokens(note) + 2
            if used + size > budget:
                self.warning = "the notes from the documents were too long for one answer; the last ones were dropped"
                log.warning("%s", self.warning)
                break
            kept.append(note)
            used += size
        return kept

    def _render(self, template: str, **fields: str) -> str:
        return render_task(self.llm, template, **fields)

    def _stream(
        self, question: str, sections: list[Source], tokens: Iterator[str], prompt: str, prompt_tokens: int, n_ctx: int
    ) -> AnswerStream:
        llm = self.llm

        def finish(text: str) -> Answer:
            return generated_answer(
                question, text, sections, model=llm.name, prompt_tokens=prompt_tokens, n_ctx=n_ctx,
                warning=self.warning,
            )  # fmt: skip

        return AnswerStream(sections, llm.name, self.warning, tokens, finish, prompt=prompt, cancel_token=self.cancel)
