"""llm_url: the same prompts answered by a real OpenAI-compatible server, llama-cpp-python's own
(`python -m llama_cpp.server`) running the tiny phi3 GGUF in a subprocess on 127.0.0.1."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ragkit import Ragkit, Settings
from ragkit.answering.remote_llm import RemoteLLM
from ragkit.cancel import CancelToken
from ragkit.embedders import SentenceTransformerEmbedder
from tests.local_servers import free_port, start_server


@pytest.fixture(scope="module")
def llama_server(tiny_phi3: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    process = start_server(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(tiny_phi3), "--model_alias", "tiny-phi3",
         "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "4096", "--n_threads", "2"],
        url + "/models",
    )  # fmt: skip
    yield url
    process.terminate()
    process.wait(timeout=30)


def test_ask_streams_a_cited_answer_from_the_server(
    llama_server: str, make_kit: Callable[..., Ragkit], tiny_phi3: Path, docs: Path
) -> None:
    local = make_kit(model=str(tiny_phi3), answer_cache=False, max_tokens=24)
    local.ingest([docs])
    remote = make_kit(model=str(tiny_phi3), llm_url=llama_server, answer_cache=False, max_tokens=24)
    llm = remote.llm()
    assert isinstance(llm, RemoteLLM) and llm.name == "tiny-phi3"
    stream = remote.ask_stream("How often are API keys rotated?")
    tokens = list(stream)
    answer = stream.answer
    assert answer is not None and tokens
    assert answer.model == "tiny-phi3" and answer.sources[0].path.endswith("ops.md")
    # The same prompt as a local model gets, counted by the server's own tokenizer.
    assert llm.token_counter == "server /extras/tokenize"
    local_plan = local.plan_prompt("How often are API keys rotated?")
    remote_plan = remote.plan_prompt("How often are API keys rotated?")
    assert local_plan.prompt is not None and remote_plan.prompt is not None
    assert remote_plan.prompt.text == local_plan.prompt.text
    assert remote_plan.prompt.tokens == local_plan.prompt.tokens
    # Greedy decoding of one prompt by one model: the server writes what llama.cpp writes here.
    assert answer.text == local.ask("How often are API keys rotated?").text


def test_not_found_needs_no_server_call(llama_server: str, make_kit: Callable[..., Ragkit], docs: Path) -> None:
    kit = make_kit(llm_url="http://127.0.0.1:9/v1", min_score=0.99)  # nothing listens there
    kit.ingest([docs])
    answer = kit.ask("What is the airspeed velocity of an unladen swallow?")
    assert answer.found is False and answer.not_found_reason


def test_a_cancel_stops_the_remote_answer(llama_server: str, tiny_phi3: Path) -> None:
    llm = RemoteLLM(llama_server, model="tiny-phi3")
    cancel = CancelToken()
    got: list[str] = []
    for token in llm.stream("Once upon a time", n_ctx=2048, max_tokens=2000, temperature=0.0, stop=[],
                            cancel=cancel):  # fmt: skip
        got.append(token)
        if len(got) == 3:
            cancel.cancel()
    assert len(got) == 3


def test_a_server_that_is_down_is_one_line_naming_the_url(
    cli: Callable[..., subprocess.CompletedProcess[str]], docs: Path, settings: Settings,
    embedder: SentenceTransformerEmbedder,
) -> None:  # fmt: skip
    Ragkit(settings=settings, embedder=embedder).ingest([docs])
    run = cli("ask", "How often are API keys rotated?", env={"RAGKIT_LLM_URL": "http://127.0.0.1:9/v1"})
    assert run.returncode == 9, run.stderr
    assert "cannot reach the LLM server at http://127.0.0.1:9/v1" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
