"""Many clients, one laptop model: searches run side by side, answers beyond the model's slots and queue
get 429 with Retry-After, and a client that leaves mid-answer stops its generation and frees its place."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import write_docs
from tests.serving.conftest import RunningServer

LOG = "The vault log.\n\n" + "\n\n".join(
    f"Entry {i}: the backup of volume {i} was verified by operator {i % 7} at {i % 24:02d}:15." for i in range(240)
)


@pytest.fixture
def slow_server(start_server: Callable[..., RunningServer], standin: Path, docs: Path) -> RunningServer:
    """The real 270M stand-in over long passages: an answer takes seconds, long enough to crowd it."""
    write_docs(docs, {"vault.md": LOG})
    return start_server(model=str(standin), answer_queue=0, llm_slots=1, answer_cache=False, prune=False,
                        max_tokens=400, min_score=0.0)  # fmt: skip


def ask_body(question: str, stream: bool) -> dict[str, object]:
    return {"model": "ragkit:default", "messages": [{"role": "user", "content": question}], "stream": stream}


def wait_for(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.slow
def test_a_full_queue_answers_429_and_a_client_leaving_stops_its_answer(slow_server: RunningServer) -> None:
    admission = slow_server.service.admission
    with (
        httpx.Client(timeout=120) as first,
        first.stream(
            "POST", slow_server.url + "/v1/chat/completions", json=ask_body("Who verified volume 17?", True)
        ) as streaming,
    ):
        assert streaming.status_code == 200
        assert admission.in_flight == 1
        crowded = httpx.post(slow_server.url + "/v1/chat/completions", json=ask_body("When was volume 3 verified?",
                             False), timeout=60)  # fmt: skip
        assert crowded.status_code == 429
        assert int(crowded.headers["Retry-After"]) >= 1
        assert "the model is busy" in crowded.json()["error"]["message"]
        # Searches need no model slot: they are answered while the model is busy.
        search = httpx.post(slow_server.url + "/api/search", json={"query": "volume 17"}, timeout=60)
        assert search.status_code == 200 and search.json()["passages"]
        next(streaming.iter_lines())  # the first chunk: the answer has started
    # The client has closed the connection before the answer ended: its generation stops and the slot frees.
    assert wait_for(lambda: admission.in_flight == 0, 30)
    assert admission.stopped == 1 and admission.refused == 1
    after = httpx.post(slow_server.url + "/v1/chat/completions", json=ask_body("Who verified volume 17?", False),
                       timeout=120)  # fmt: skip
    assert after.status_code == 200 and after.json()["ragkit"]["stopped"] is False


@pytest.mark.slow
def test_a_client_leaving_while_tokens_flow_stops_the_answer(slow_server: RunningServer) -> None:
    admission = slow_server.service.admission
    with (
        httpx.Client(timeout=120) as http,
        http.stream(
            "POST",
            slow_server.url + "/v1/chat/completions",
            json=ask_body("List every volume that was verified.", True),
        ) as streaming,
    ):
        lines = streaming.iter_lines()
        while '"content": ""' in (line := next(lines)) or not line.strip():
            pass  # the role chunk and blank separators: wait for the first token
        assert '"content"' in line
    assert wait_for(lambda: admission.in_flight == 0, 30)
    assert admission.stopped == 1


@pytest.mark.slow
def test_a_non_streamed_request_abandoned_by_its_client_stops_too(slow_server: RunningServer) -> None:
    admission = slow_server.service.admission
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(slow_server.url + "/v1/chat/completions", json=ask_body("Who verified volume 17?", False),
                   timeout=httpx.Timeout(60, read=2.0))  # fmt: skip
    assert wait_for(lambda: admission.in_flight == 0, 30)
    assert admission.stopped == 1


def test_searches_run_side_by_side(server: RunningServer) -> None:
    queries = ["API keys", "backups", "storage quota", "owner"] * 4
    with ThreadPoolExecutor(8) as pool:
        replies = list(pool.map(
            lambda q: httpx.post(server.url + "/api/search", json={"query": q, "k": 2}, timeout=60), queries
        ))  # fmt: skip
    assert [r.status_code for r in replies] == [200] * len(queries)
    assert "12 GB" in replies[2].json()["passages"][0]["text"]


def test_concurrent_answers_all_complete(start_server: Callable[..., RunningServer]) -> None:
    """Answers asked on the server's worker threads and read on others: none may close another's
    (a load test once got 'generator already executing' 500s and a llama.cpp abort from that)."""
    server = start_server(answer_cache=False, max_tokens=32, answer_queue=16)
    questions = ["How often are API keys rotated?", "Who owns the service?", "What is the storage quota?"] * 4

    def ask(i: int) -> httpx.Response:
        return httpx.post(server.url + "/v1/chat/completions", timeout=300,
                          json=ask_body(questions[i], stream=i % 2 == 0))  # fmt: skip

    with ThreadPoolExecutor(12) as pool:
        replies = list(pool.map(ask, range(len(questions))))
    assert [r.status_code for r in replies] == [200] * len(questions)
    assert all("[DONE]" in r.text for r in replies[::2])
    assert server.service.admission.stopped == 0 and server.service.admission.in_flight == 0
