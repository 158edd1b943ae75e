"""`Chat` and `ragkit chat`: follow-ups rewritten before retrieval, history in
the prompt within a token budget, stopping an answer (real llama.cpp, tiny phi3)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ragkit import Chat, Ragkit
from ragkit.answering.chat import _leans_on_context
from ragkit.answering.llm import LlamaCppLLM

Cli = Callable[..., subprocess.CompletedProcess[str]]


class ScriptedRewriteLLM(LlamaCppLLM):
    """Real tokenizer, template and answers; query rewrites come from a script."""

    rewrite = "how often are API keys rotated by the operations team"

    def stream(self, prompt: str, **kwargs: object) -> Iterator[str]:  # type: ignore[override]
        if "Standalone query:" in prompt:
            return iter([self.rewrite])
        return super().stream(prompt, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def chat_kit(make_kit: Callable[..., Ragkit], docs: Path, tiny_phi3: Path) -> Ragkit:
    kit = make_kit(model=str(tiny_phi3), max_tokens=16, min_score=0.0)
    kit.ingest([docs])
    return kit


def test_history_is_in_the_prompt_and_follow_ups_are_searched_standalone(chat_kit: Ragkit) -> None:
    chat = Chat(chat_kit, rewrite="concat")
    first = chat.ask("how often are API keys rotated?")
    stream = chat.ask_stream("and the storage quota?")
    # The earlier turn, as phi-3's template writes it, before the new question's passages.
    assert f"<|user|>\nhow often are API keys rotated?<|end|>\n<|assistant|>\n{first.text}<|end|>" in stream.prompt
    list(stream)
    assert chat.turns[1].query == "how often are API keys rotated? and the storage quota?"
    assert any(Path(s.path).name == "faq.txt" for s in chat.sources)  # found through the joined query
    chat.reset()
    assert chat.turns == [] and chat.sources == []
    assert "how often are API keys" not in chat.ask_stream("storage quota?").prompt


@pytest.fixture
def rewrite_llm(tiny_phi3: Path) -> ScriptedRewriteLLM:
    return ScriptedRewriteLLM(tiny_phi3)


@pytest.fixture
def auto_chat(make_kit: Callable[..., Ragkit], docs: Path, rewrite_llm: ScriptedRewriteLLM) -> Chat:
    kit = make_kit(llm=rewrite_llm, max_tokens=8, min_score=0.0)
    kit.ingest([docs])
    return Chat(kit)  # rewrite = auto


def test_the_model_rewrites_only_follow_ups_that_lean_on_the_conversation(
    auto_chat: Chat, rewrite_llm: ScriptedRewriteLLM
) -> None:
    chat, llm = auto_chat, rewrite_llm
    chat.ask("Who owns the service?")
    assert chat.standalone_query("What is the storage quota?") == "What is the storage quota?"  # stands alone
    assert chat.standalone_query("and how often are its keys rotated?") == llm.rewrite
    llm.rewrite = "Paris is the capital of France"  # an answer, not a rewrite: nothing in common with the chat
    assert chat.standalone_query("and its keys?") == "Who owns the service? and its keys?"
    assert _leans_on_context("why?") and _leans_on_context("What about backups?")
    assert not _leans_on_context("How long are database backups kept?")


def test_chinese_follow_ups_are_rewritten_and_standalone_chinese_questions_are_not(
    auto_chat: Chat, rewrite_llm: ScriptedRewriteLLM
) -> None:
    chat, llm = auto_chat, rewrite_llm
    chat.ask("谁负责这个服务的密钥轮换？")
    # A whole question stands alone: no rewrite asked of the model (Chinese had no "words" before).
    assert chat.standalone_query("数据库备份保存多少天？") == "数据库备份保存多少天？"
    assert not _leans_on_context("数据库备份保存多少天？")
    # A follow-up leaning on the chat is rewritten, and a rewrite sharing the chat's words is kept.
    assert _leans_on_context("它多久轮换一次？") and _leans_on_context("那存储配额呢？")
    llm.rewrite = "服务的密钥多久轮换一次"
    assert chat.standalone_query("它多久轮换一次？") == llm.rewrite


def test_history_is_trimmed_to_its_token_budget(chat_kit: Ragkit) -> None:
    chat = Chat(chat_kit, rewrite="off", history_tokens=60)
    for question in ("how often are API keys rotated?", "who owns the service?", "what is the storage quota?"):
        chat.ask(question)
    kept = chat.history_messages()
    llm = chat_kit.llm()
    assert kept and sum(llm.count_tokens(m["content"]) + 4 for m in kept) <= 60
    assert kept[-2]["content"] == "what is the storage quota?"  # the newest turns are kept
    assert len(kept) < 6


def test_a_stopped_answer_stays_in_the_conversation_and_the_chat_goes_on(chat_kit: Ragkit) -> None:
    chat = Chat(chat_kit, rewrite="off")
    stream = chat.ask_stream("how often are API keys rotated?")
    tokens = iter(stream)
    next(tokens)
    tokens.close()  # what Ctrl-C does to the stream in `ragkit chat`
    assert chat.turns[-1].answer.stopped and stream.answer is not None and stream.answer.stopped
    assert chat.ask("who owns the service?").stopped is False and len(chat.turns) == 2


def test_ragkit_chat_session(cli: Cli, docs: Path, tiny_phi3: Path) -> None:
    assert cli("ingest", str(docs)).returncode == 0
    session = "\n".join(
        ["how often are API keys rotated?", "and who owns the service?", "/sources", "/reset", "/nope", "/exit"]
    )
    result = cli("chat", "--model", str(tiny_phi3), "--max-tokens", "8", "--rewrite", "concat", input=session + "\n")
    assert result.returncode == 0, result.stderr
    # /sources after the follow-up: the passage about the owner (pruning drops the one about keys, far less relevant)
    assert "faq.txt" in result.stdout and "Ines Okafor" in result.stdout
    assert "Conversation forgotten" in result.stdout and "unknown command /nope" in result.stderr
    # Ctrl-D leaves cleanly; the readline history is kept for the next session.
    assert cli("chat", "--model", str(tiny_phi3), input="").returncode == 0


def test_ctrl_c_stops_an_answer_without_leaving_chat(
    monkeypatch: pytest.MonkeyPatch, docs: Path, tiny_phi3: Path, data_dir: Path
) -> None:
    from typer.testing import CliRunner

    from ragkit.cli import app

    def interrupted(self: LlamaCppLLM, prompt: str, **_: object) -> Iterator[str]:
        yield "API keys are"
        raise KeyboardInterrupt  # the user pressed Ctrl-C while the model was writing

    monkeypatch.setenv("RAGKIT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("RAGKIT_MIN_SCORE", "0")
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(docs)]).exit_code == 0
    monkeypatch.setattr(LlamaCppLLM, "stream", interrupted)
    result = runner.invoke(app, ["chat", "--model", str(tiny_phi3)], input="keys?\nquota?\n/exit\n")
    assert result.exit_code == 0, result.output
    assert result.output.count("(stopped)") == 2  # both questions were taken; the session did not end
