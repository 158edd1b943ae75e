"""Build the RAG prompt inside a token budget, counted with the LLM's own
tokenizer: the instructions and question always fit (or ask fails clearly),
then passages are added in rank order while they fit beside the answer
reserve."""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from ragkit.answering.llm import LLM
from ragkit.answers import Source
from ragkit.errors import ContextTooSmallError
from ragkit.prompts import load_prompt

CHAT_STOPS = ["<|end|>", "<|endoftext|>"]
# A base model given a conversation goes on writing one ("(Later in this conversation: User: ..."): it stops at
# the turn markers the completion prompt uses.
COMPLETION_STOPS = [
    "\nQuestion:", "\n\n\n", "<end_of_turn>", "</passage>", "\nUser:", "\nAssistant:", "(Later in this conversation",
    "(Earlier in this conversation",
]  # fmt: skip


@dataclass(frozen=True)
class BuiltPrompt:
    text: str
    tokens: int
    sources: list[Source]
    """The passages included, renumbered 1..n as the prompt shows them."""
    stop: list[str]
    prefix: str = ""
    """The start of `text` that is the same for every question."""
    context_tokens: int = 0
    """Tokens of the passages alone: what retrieval (and pruning) costs the prompt."""


def quote_passage(text: str) -> str:
    """Document text as data: a document cannot close its <passage> tag (or
    open a new one) and go on as if it were the user or the system."""
    return re.sub(r"<(/?passage)", lambda m: "\u2039" + m.group(1), text, flags=re.IGNORECASE)


def common_folder(sources: list[Source]) -> Path | None:
    """The deepest folder holding every passage's file."""
    folders = {os.path.dirname(s.path) for s in sources if os.path.isabs(s.path)}
    if not folders:
        return None
    with contextlib.suppress(ValueError):  # paths on different drives
        return Path(os.path.commonpath(folders))
    return None


def passages_text(sources: list[Source], folder: Path | None = None) -> str:
    """The passages as the prompt shows them. Locations are relative to the
    folder that holds them all (by default the deepest one): the model needs
    to tell passages apart, not to read the same long path five times, and
    every prompt token is seconds of waiting on a laptop CPU."""
    template = load_prompt("passage")
    folder = folder or common_folder(sources)
    return "\n\n".join(
        template.format(number=s.number, location=s.location(folder), text=quote_passage(s.text)) for s in sources
    )


_SEAM = "\x00passages\x00"


def _render(
    llm: LLM,
    question: str,
    sources: list[Source],
    passages: str | None = None,
    history: list[dict[str, str]] | None = None,
) -> str:
    passages = passages_text(sources) if passages is None else passages
    if llm.chat_template:
        # Earlier turns carry only questions and answers, not their passages,
        # to keep the prompt short; within one process llama.cpp reuses the
        # evaluated system prompt and turns (a shared token prefix).
        user = load_prompt("rag_user").format(passages=passages, question=question)
        messages = [{"role": "system", "content": load_prompt("rag_system")}, *(history or [])]
        messages.append({"role": "user", "content": user})
        return llm.render_chat(messages)
    if history:
        turns = "\n".join(f"{m['role'].capitalize()}: {m['content']}" for m in history)
        question = f"{question}\n(Earlier in this conversation:\n{turns})"
    return load_prompt("rag_completion").format(passages=passages, question=question)


def stops_for(llm: LLM) -> list[str]:
    """Where generation ends: the chat template's end markers, or the places a base model drifts on."""
    return list(CHAT_STOPS if llm.chat_template else COMPLETION_STOPS)


def render_task(llm: LLM, name: str, *, system: str | None = None, **fields: str) -> str:
    """A one-turn prompt from the templates NAME_user.txt (chat models, after
    the system template `system` when given) or NAME_completion.txt (base models)."""
    if llm.chat_template:
        messages = [{"role": "system", "content": load_prompt(system)}] if system else []
        messages.append({"role": "user", "content": load_prompt(f"{name}_user").format(**fields)})
        return llm.render_chat(messages)
    return load_prompt(f"{name}_completion").format(**fields)


def fixed_prefix(llm: LLM) -> str:
    """The part of every RAG prompt before the passages: the same for every
    question, so its evaluated state can be cached (see PrefixCache)."""
    return _render(llm, "", [], passages=_SEAM).split(_SEAM)[0]


def merge_neighbours(sources: list[Source]) -> list[Source]:
    """Join passages that are consecutive chunks of one file into one
    passage, placed at the best rank among them: the model reads one
    continuous excerpt (and one location header) instead of fragments."""
    by_file: dict[str, list[Source]] = {}
    for source in sources:
        by_file.setdefault(source.path, []).append(source)
    runs: list[list[Source]] = []
    for group in by_file.values():
        group.sort(key=lambda s: (s.chunk is None, s.chunk or 0))
        for source in group:
            last = runs[-1][-1] if runs and runs[-1][-1].path == source.path else None
            if last is not None and last.chunk is not None and source.chunk == last.chunk + 1:
                runs[-1].append(source)
            else:
                runs.append([source])
    runs.sort(key=lambda run: min(s.number for s in run))
    merged: list[Source] = []
    for parts in runs:
        best = min(parts, key=lambda s: s.number)
        if len(parts) == 1:
            merged.append(replace(best, number=len(merged) + 1))
            continue
        first, last = parts[0], parts[-1]
        merged.append(
            replace(
                best,
                number=len(merged) + 1,
                text="\n".join(p.text for p in parts),
                start_line=first.start_line,
                end_line=last.end_line if last.end_line is not None else first.end_line,
                page=first.page,
                end_page=last.end_page if last.end_page is not None else last.page,
                headings=first.headings,
                chunk=first.chunk,
            )
        )
    return merged


PASSAGE_OVERHEAD = 48
"""Tokens of a passage's tags, number and location, generously."""


def prompt_ceiling(
    llm: LLM, question: str, *, passages: int, passage_tokens: int, history: list[dict[str, str]] | None = None
) -> int:
    """The most tokens a prompt of `passages` passages of up to `passage_tokens`
    embedder tokens can take, before retrieval: what a model loaded ahead of
    the prompt must hold. Embedder word pieces become up to 1.5 LLM tokens
    (numbers, code and other languages split finer)."""
    base = llm.count_tokens(_render(llm, question, [], history=history))
    return base + passages * (passage_tokens * 3 // 2 + PASSAGE_OVERHEAD)


def build_prompt(
    llm: LLM,
    question: str,
    candidates: list[Source],
    *,
    ctx_limit: int,
    max_tokens: int,
    history: list[dict[str, str]] | None = None,
) -> BuiltPrompt:
    budget = ctx_limit - max_tokens
    base = llm.count_tokens(_render(llm, question, [], history=history))
    if base > budget:
        raise ContextTooSmallError(
            f"the question and instructions need {base} tokens, but a context of {ctx_limit} "
            f"minus the {max_tokens}-token answer reserve leaves {budget}",
            "raise --ctx (up to 131072), lower --max-tokens, or shorten the question",
        )
    chosen: list[Source] = []
    used = base
    folder = common_folder(candidates)
    for candidate in candidates:
        numbered = replace(candidate, number=len(chosen) + 1)
        cost = llm.count_tokens(passages_text([numbered], folder)) + 2  # + the blank line between passages
        if used + cost <= budget:
            chosen.append(numbered)
            used += cost
    if candidates and not chosen:
        raise ContextTooSmallError(
            f"no passage fits: a context of {ctx_limit} leaves {budget - base} tokens for passages",
            "raise --ctx (up to 131072) or lower --max-tokens",
        )
    text = _render(llm, question, chosen, history=history)
    tokens = llm.count_tokens(text)
    while tokens > budget and chosen:  # token merges at joins can cost a few more than estimated
        chosen.pop()
        text = _render(llm, question, chosen, history=history)
        tokens = llm.count_tokens(text)
    prefix = fixed_prefix(llm)
    context = llm.count_tokens(passages_text(chosen)) if chosen else 0
    return BuiltPrompt(text, tokens, chosen, stops_for(llm), prefix if text.startswith(prefix) else "", context)
