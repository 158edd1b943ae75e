"""The OpenAI-compatible API, driven by the official `openai` client: answers
with their sources in-band, streamed and not; embeddings; the schema."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.serving.conftest import RunningServer

QUESTION = "How often are API keys rotated?"


def client(server: RunningServer, key: str = "none") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0)


def test_models_list_one_model_per_index(server: RunningServer) -> None:
    assert [m.id for m in client(server).models.list()] == ["ragkit:default"]


def test_a_chat_completion_carries_its_sources_and_usage(server: RunningServer) -> None:
    reply = client(server).chat.completions.create(
        model="ragkit:default", messages=[{"role": "user", "content": QUESTION}]
    )
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content  # the tiny model writes something
    assert reply.usage is not None and reply.usage.prompt_tokens > 50
    extension = reply.model_extra["ragkit"]  # type: ignore[index]
    sources = extension["sources"]
    assert sources and sources[0]["path"].endswith("ops.md")
    assert "45 days" in sources[0]["text"]
    assert sources[0]["location"].startswith("/") and ":" in sources[0]["location"]  # file and lines
    assert set(sources[0]) >= {"number", "path", "start_line", "end_line", "page", "score", "text", "cited"}
    assert isinstance(extension["found"], bool) and isinstance(extension["invalid_citations"], list)


def test_a_streamed_completion_ends_with_sources_on_the_final_chunk(server: RunningServer) -> None:
    chunks = list(
        client(server).chat.completions.create(
            model="ragkit:default", messages=[{"role": "user", "content": QUESTION}], stream=True
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    final = chunks[-1]
    assert final.choices[0].finish_reason == "stop"
    extension = final.model_extra["ragkit"]  # type: ignore[index]
    assert extension["sources"][0]["path"].endswith("ops.md")
    assert final.usage is not None and final.usage.completion_tokens >= 1
    # The streamed text is the answer the extension describes: a non-streamed request gives the same.
    again = client(server).chat.completions.create(
        model="ragkit:default", messages=[{"role": "user", "content": QUESTION}]
    )
    assert again.choices[0].message.content == text


def test_earlier_messages_are_the_conversation(server: RunningServer) -> None:
    reply = client(server).chat.completions.create(
        model="ragkit:default",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Who owns the service?"},
            {"role": "assistant", "content": "The Moth Harbour team [1]."},
            {"role": "user", "content": "What is the storage quota?"},
        ],
    )
    sources = reply.model_extra["ragkit"]["sources"]  # type: ignore[index]
    assert any("12 GB" in s["text"] for s in sources)


def test_errors_are_openai_errors_with_one_clear_message(server: RunningServer) -> None:
    with pytest.raises(openai.BadRequestError) as bad:
        client(server).chat.completions.create(model="ragkit:default", messages=[{"role": "assistant", "content": "x"}])
    assert "last message must be the user's question" in str(bad.value)
    with pytest.raises(openai.NotFoundError) as missing:
        client(server).chat.completions.create(model="ragkit:nope", messages=[{"role": "user", "content": "x"}])
    assert "no index named 'nope'" in str(missing.value)
    raw = httpx.post(server.url + "/v1/chat/completions", content=b"{not json", timeout=30)
    assert raw.status_code == 400 and "Traceback" not in raw.text
    assert raw.json()["error"]["type"] == "invalid_request_error"


def test_embeddings_are_the_index_embedders(server: RunningServer) -> None:
    result = client(server).embeddings.create(model="ragkit:default", input=["API keys", "backups"])
    assert [len(d.embedding) for d in result.data] == [384, 384]
    kit = server.service.kit()
    expected = kit.query_embedder.embed(["API keys", "backups"])  # one batch, as the request sent them
    for got, want in zip(result.data, expected, strict=True):
        assert abs(sum(a * b for a, b in zip(got.embedding, want, strict=True)) - 1.0) < 1e-4


def test_the_openapi_schema_describes_every_endpoint(server: RunningServer) -> None:
    schema = httpx.get(server.url + "/openapi.json", timeout=30).json()
    paths = set(schema["paths"])
    assert {"/v1/models", "/v1/chat/completions", "/v1/embeddings", "/api/search", "/api/ingest",
            "/api/ingest/{job_id}", "/api/ingest/{job_id}/events", "/api/status", "/api/forget",
            "/api/documents", "/api/documents/passages", "/health"} <= paths  # fmt: skip
    request = schema["components"]["schemas"]["ChatCompletionRequest"]
    assert {"messages", "stream", "ragkit"} <= set(request["properties"])
