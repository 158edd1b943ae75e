"""A conversation over the indexed documents: each question is answered
from freshly retrieved passages, with the earlier turns (questions and
answers, trimmed to a token budget) in the prompt, and a follow-up such as
"and who does it?" is rewritten into a standalone query before retrieval."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from ragkit.answering.llm import choose_n_ctx
from ragkit.answering.prompting import render_task, stops_for
from ragkit.answers import Answer, AnswerStream, Source
from ragkit.cancel import CancelToken
from ragkit.kit import Ragkit
from ragkit.languages import UNSPACED_SENTENCE_END, has_unspaced, keyword_tokens
from ragkit.retrieval.filters import Where

log = logging.getLogger(__name__)

REWRITE_MODES = ("auto", "llm", "concat", "off")
# Words that make a question lean on what came before.
_REFERRING = re.compile(
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|he|him|his|she|her|hers|there|then|"
    r"one|ones|same|former|latter|above|else|also|too|more|again)\b|^(and|but|or|so|what about|how about)\b",
    re.IGNORECASE,
)
# The same in Chinese: pronouns and "what about ...".
_REFERRING_ZH = re.compile(r"[它他她其]|这个|那个|这些|那些|这里|那里|还有|那么|呢[？?]?$")
_STOP_TEXT = (
    "a an the and or but of to in on for with is are was were be been do does did how what when where why "
    "which who whom whose it its this that these those there then i you he she we they me him her us them "
    "my your his our their can could should would will shall may might must about also too more again"
)
_STOP_WORDS = frozenset(_STOP_TEXT.split())


@dataclass(frozen=True)
class Turn:
    question: str
    """What the user typed."""
    query: str
    """What was searched: the question, or its standalone rewrite."""
    answer: Answer


class Chat:
    """An interactive session on one index.

    >>> chat = Chat(kit)
    >>> for token in (stream := chat.ask_stream("How are API keys rotated?")):
    ...     show(token)
    >>> chat.ask("And who does it?")          # retrieved as a standalone query
    >>> chat.sources                          # passages behind the last answer
    >>> chat.reset()
    """

    def __init__(
        self,
        kit: Ragkit,
        *,
        where: Where | Iterable[str] | None = None,
        history_tokens: int | None = None,
        rewrite: str | None = None,
    ) -> None:
        self.kit = kit
        self.where = where
        self.history_tokens = kit.settings.chat_history_tokens if history_tokens is None else history_tokens
        self.rewrite = rewrite or kit.settings.chat_rewrite
        if self.rewrite not in REWRITE_MODES:
            raise ValueError(f"rewrite must be one of {REWRITE_MODES}, not {self.rewrite!r}")
        self.turns: list[Turn] = []

    @classmethod
    def from_messages(
        cls, kit: Ragkit, messages: list[dict[str, str]], *, where: Where | Iterable[str] | None = None
    ) -> tuple[Chat, str]:
        """A conversation rebuilt from OpenAI-style messages, and the question to answer: the last user
        message is the question, earlier user/assistant pairs are the turns before it (as if asked here).
        System messages are ignored: ragkit's own instructions make answers cite the passages."""
        talk = [m for m in messages if m.get("role") in ("user", "assistant")]
        if not talk or talk[-1].get("role") != "user" or not str(talk[-1].get("content") or "").strip():
            raise ValueError("the last message must be the user's question")
        chat = cls(kit, where=where)
        question = ""
        for message in talk[:-1]:
            content = str(message.get("content") or "")
            if message["role"] == "user":
                question = content
            elif question:
                answer = Answer(question=question, text=content, sources=[], cited=[], model="", prompt_tokens=0,
                                n_ctx=0)  # fmt: skip
                chat.turns.append(Turn(question, question, answer))
                question = ""
        return chat, str(talk[-1]["content"]).strip()

    @property
    def sources(self) -> list[Source]:
        """The passages the last answer was given (the nearest ones when it found nothing)."""
        return self.turns[-1].answer.sources if self.turns else []

    def reset(self) -> None:
        """Forget the conversation: the next question stands alone."""
        self.turns.clear()

    def ask_stream(self, question: str, cancel: CancelToken | None = None) -> AnswerStream:
        """Answer `question` in the context of the conversation; the turn is
        recorded when the stream ends (also when it is stopped early).
        `cancel` stops the answer from any thread."""
        query = self.standalone_query(question)
        if query != question:
            log.info("searching for the standalone query %r", query)
        stream = self.kit.ask_stream(question, where=self.where, history=self.history_messages(), search_query=query,
            cancel=cancel,
        )  # fmt: skip
        stream.on_answer = lambda answer: self.turns.append(Turn(question, query, answer))
        return stream

    def ask(self, question: str) -> Answer:
        stream = self.ask_stream(question)
        for _ in stream:
            pass
        assert stream.answer is not None
        return stream.answer

    def history_messages(self) -> list[dict[str, str]]:
        """The most recent turns that fit in `history_tokens`, oldest first."""
        if not self.turns or self.history_tokens <= 0:
            return []
        llm = self.kit.llm()
        kept: list[dict[str, str]] = []
        used = 0
        for turn in reversed(self.turns):
            pair = [{"role": "user", "content": turn.question}, {"role": "assistant", "content": turn.answer.text}]
            cost = sum(llm.count_tokens(m["content"]) + 4 for m in pair)  # + the role markers
            if used + cost > self.history_tokens:
                break
            kept[:0] = pair
            used += cost
        return kept

    def standalone_query(self, question: str) -> str:
        """What to search for: the question itself when it stands alone, else
        a rewrite by the model ("llm"), or the previous question joined to it
        ("concat", and whenever the model's rewrite is unusable)."""
        if not self.turns or self.rewrite == "off":
            return question
        previous = self.turns[-1].query
        joined = f"{previous} {question}"
        if self.rewrite == "concat" or (self.rewrite == "auto" and not _leans_on_context(question)):
            return joined if self.rewrite == "concat" else question
        rewritten = self._rewrite_with_llm(question)
        if rewritten is None:
            return joined
        return rewritten

    def _rewrite_with_llm(self, question: str) -> str | None:
        llm = self.kit.llm()
        recent = self.turns[-3:]
        conversation = "\n".join(f"User: {t.question}\nAssistant: {_first_sentence(t.answer.text)}" for t in recent)
        prompt = render_task(llm, "condense", system="condense_system", conversation=conversation, question=question)
        ctx_limit = min(self.kit.settings.ctx, llm.n_ctx_train)
        prompt_tokens = llm.count_tokens(prompt)
        if prompt_tokens + 64 > ctx_limit:
            return None
        # Sized to this short prompt, so an already loaded context serves it.
        n_ctx = choose_n_ctx(prompt_tokens, 48, ctx_limit)
        stop = [*stops_for(llm), "\n"]
        text = "".join(llm.stream(prompt, n_ctx=n_ctx, max_tokens=48, temperature=0.0, stop=stop)).strip()
        text = text.strip("\"' ")
        # A small model may answer instead of rewriting, or drift: keep the
        # rewrite only if it is short and about the conversation's words.
        context_words = _content_words(question + " " + " ".join(t.query for t in recent))
        if not text or len(text) > 300 or not _content_words(text) & context_words:
            log.info("discarding the model's query rewrite %r", text)
            return None
        return text


def _leans_on_context(question: str) -> bool:
    words = keyword_tokens(question)  # Chinese and Japanese as character bigrams
    referring = _REFERRING.search(question.strip()) or _REFERRING_ZH.search(question.strip())
    return len(words) <= 3 or bool(referring)


def _content_words(text: str) -> set[str]:
    return {w for w in keyword_tokens(text) if w not in _STOP_WORDS and (len(w) > 2 or has_unspaced(w))}


def _first_sentence(text: str, limit: int = 300) -> str:
    first = re.split(rf"(?<=[.!?])\s|{UNSPACED_SENTENCE_END}", text.strip(), maxsplit=1)[0]
    return first[:limit]
