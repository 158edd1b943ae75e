"""The public library surface and ask on llama.cpp's real phi-3 code path."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import ragkit
from ragkit import Answer, Ragkit
from ragkit.answering.llm import LlamaCppLLM, choose_n_ctx
from ragkit.answering.prompting import build_prompt


def test_public_surface_is_pinned() -> None:
    assert set(ragkit.__all__) == {
        "REGISTRY", "Answer", "AnswerStream", "CancelToken", "Chat", "ContextMemoryError", "ContextTooSmallError",
        "DocumentError",
        "DownloadError",
        "DownloadProgress", "EmptyIndexError", "ForgetReport", "IndexFormatError", "IndexLockedError", "IndexStatus",
        "IngestProgress",
        "IngestReport", "ModelNotFoundError", "ModelSpec", "NoMatchError", "Ragkit", "RagkitError", "Retrieval",
        "Settings", "SkippedFile", "Source", "Turn", "WatchSummary", "WatchUpdate", "Where", "__version__",
    }  # fmt: skip
    # What apps call: ask/search take a filter, search a retriever mode.
    import inspect

    assert {"where", "mode"} <= set(inspect.signature(Ragkit.search).parameters)
    assert "where" in inspect.signature(Ragkit.ask_stream).parameters
    # Every long call can be stopped with one design: a cancel= token.
    for call in (Ragkit.ingest, Ragkit.ask_stream, Ragkit.ask, Ragkit.ask_documents, Ragkit.watch):
        assert "cancel" in inspect.signature(call).parameters, call


def test_ask_stream_yields_tokens_then_a_cited_answer(
    make_kit: Callable[..., Ragkit], docs: Path, tiny_phi3: Path
) -> None:
    kit = make_kit(model=str(tiny_phi3), max_tokens=12)
    kit.ingest([docs])
    stream = kit.ask_stream("how often are API keys rotated?")
    assert stream.sources and Path(stream.sources[0].path).name == "ops.md"  # known before generation
    tokens = list(stream)
    assert tokens and all(isinstance(t, str) for t in tokens)
    answer = stream.answer
    assert isinstance(answer, Answer)
    assert answer.text == "".join(tokens).strip()
    assert answer.model == "tiny-phi3.gguf" and answer.warning is None
    assert [s.number for s in answer.sources] == list(range(1, len(answer.sources) + 1))
    assert answer.n_ctx == choose_n_ctx(answer.prompt_tokens, 12, 4096) and answer.n_ctx <= 4096


def test_phi3_prompt_uses_the_gguf_chat_template_and_numbers_passages(
    make_kit: Callable[..., Ragkit], docs: Path, tiny_phi3: Path
) -> None:
    kit = make_kit()
    kit.ingest([docs])
    llm = LlamaCppLLM(tiny_phi3)
    sources = kit.search("storage quota", k=2)
    prompt = build_prompt(llm, "What is the storage quota?", sources, ctx_limit=4096, max_tokens=256)
    assert prompt.text.startswith("<|system|>\n") and prompt.text.endswith("<|end|>\n<|assistant|>\n")
    assert "<|user|>\nPassages:" in prompt.text
    assert '<passage number="1" source="' in prompt.text and '<passage number="2"' in prompt.text
    assert prompt.stop == ["<|end|>", "<|endoftext|>"]
    assert prompt.tokens == llm.count_tokens(prompt.text)


def test_a_base_model_stops_where_its_follow_up_prompt_marks_a_turn(
    make_kit: Callable[..., Ragkit], docs: Path, standin: Path
) -> None:
    # The stand-in (no chat template) answering a follow-up through ragkit serve went on with a made-up
    # conversation, "(Later in this conversation: User: ...": every turn marker of its prompt is a stop.
    kit = make_kit()
    kit.ingest([docs])
    history = [{"role": "user", "content": "How are keys rotated?"}, {"role": "assistant", "content": "Every 45 days."}]
    prompt = build_prompt(
        LlamaCppLLM(standin), "And the grace period?", kit.search("grace period", k=2), ctx_limit=4096,
        max_tokens=256, history=history,
    )  # fmt: skip
    assert "\nUser: How are keys rotated?" in prompt.text and "(Earlier in this conversation:" in prompt.text
    for marker in ("\nUser:", "\nAssistant:", "\nQuestion:", "(Later in this conversation", "(Earlier in this"):
        assert any(stop.startswith(marker) or marker.startswith(stop) for stop in prompt.stop), marker


def test_passages_are_packed_to_the_token_budget(
    make_kit: Callable[..., Ragkit], tmp_path: Path, tiny_phi3: Path
) -> None:
    from tests.conftest import write_docs

    docs = write_docs(tmp_path / "d", {f"n{i}.txt": f"{i} " + "the api key is rotated " * 30 for i in range(6)})
    kit = make_kit()
    kit.ingest([docs])
    llm = LlamaCppLLM(tiny_phi3)
    sources = kit.search("api key rotated", k=6)
    roomy = build_prompt(llm, "quota?", sources, ctx_limit=8192, max_tokens=256)
    tight = build_prompt(llm, "quota?", sources, ctx_limit=1024, max_tokens=256)
    assert len(roomy.sources) == 6
    assert 0 < len(tight.sources) < 6 and tight.tokens <= 1024 - 256
    assert [s.path for s in tight.sources] == [s.path for s in sources[: len(tight.sources)]]  # best first


def test_n_ctx_is_sized_to_the_prompt_and_stays_in_short_rope_range() -> None:
    assert choose_n_ctx(300, 512, 4096) == 1024
    assert choose_n_ctx(3900, 512, 4096) == 4096
    assert choose_n_ctx(9000, 512, 131072) == 9728


def test_search_on_a_new_index_says_it_is_empty(make_kit: Callable[..., Ragkit]) -> None:
    with pytest.raises(ragkit.EmptyIndexError, match="ragkit ingest"):
        make_kit().search("anything")


def test_an_off_topic_question_is_answered_not_found_without_running_the_model(
    make_kit: Callable[..., Ragkit], docs: Path, tiny_phi3: Path
) -> None:
    kit = make_kit(model=str(tiny_phi3))
    kit.ingest([docs])
    answer = kit.ask("What is the airspeed velocity of an unladen swallow?")
    assert not answer.found and answer.text == "I cannot find the answer in the provided documents."
    assert answer.not_found_reason and "best similarity" in answer.not_found_reason
    assert 1 <= len(answer.sources) <= 3 and answer.cited == []  # the nearest passages, for the user to check
    assert answer.model == "" and answer.prompt_tokens == 0  # no minutes of prefill spent on a guess
    assert make_kit(model=str(tiny_phi3), min_score=0.0).ask("unladen swallow?").model == "tiny-phi3.gguf"


class DecliningLLM(LlamaCppLLM):
    """The real tokenizer and template; the answer is what phi-3 writes when the passages lack it."""

    def stream(self, prompt: str, **_: object) -> Iterator[str]:  # type: ignore[override]
        return iter(["The passages do not contain ", "the release date."])


def test_an_answer_that_declines_is_reported_as_not_found(
    make_kit: Callable[..., Ragkit], docs: Path, tiny_phi3: Path
) -> None:
    kit = make_kit(llm=DecliningLLM(tiny_phi3))
    kit.ingest([docs])
    answer = kit.ask("how often are API keys rotated?")
    assert not answer.found and answer.not_found_reason == "the model found no answer in the passages"
    assert answer.sources  # what the model was given, listed as the nearest passages


def test_ask_loads_the_model_once_on_a_background_thread_while_retrieving(
    make_kit: Callable[..., Ragkit], docs: Path, tiny_phi3: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llama_cpp

    loads: list[tuple[str, int]] = []

    class CountingLlama(llama_cpp.Llama):  # type: ignore[misc]
        def __init__(self, *args: object, **kwargs: Any) -> None:
            loads.append((threading.current_thread().name, int(kwargs["n_ctx"])))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(llama_cpp, "Llama", CountingLlama)
    kit = make_kit(model=str(tiny_phi3), min_score=0.0, max_tokens=16)
    kit.ingest([docs])
    first = kit.ask("how often are API keys rotated?")
    second = kit.ask("who owns the service?")
    assert [thread for thread, _ in loads] == ["ragkit-llm-load"]  # read once, off the caller's thread
    assert loads[0][1] >= max(first.n_ctx, second.n_ctx)
