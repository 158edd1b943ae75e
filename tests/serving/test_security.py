"""Safe by default: loopback only unless a key is set; the key guards every endpoint but /health; no CORS
unless configured; bounded request bodies; ingest only under the configured roots."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

import httpx
import openai
import pytest

from tests.conftest import RAGKIT_BIN
from tests.serving.conftest import RunningServer


def test_serve_refuses_a_network_address_without_an_api_key(tmp_path: Path) -> None:
    env = {**os.environ, "RAGKIT_DATA_DIR": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path)}
    env.pop("RAGKIT_API_KEY", None)
    run = subprocess.run([RAGKIT_BIN, "serve", "--host", "0.0.0.0", "--port", "0"], capture_output=True, text=True,
                         env=env, timeout=120)  # fmt: skip
    assert run.returncode == 2
    assert "refusing to listen on 0.0.0.0 without an API key" in run.stderr
    assert "--api-key" in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_a_port_in_use_is_one_line(tmp_path: Path) -> None:
    import socket

    env = {**os.environ, "RAGKIT_DATA_DIR": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path),
           "HF_HUB_OFFLINE": "1"}  # fmt: skip
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run([RAGKIT_BIN, "serve", "--port", str(port)], capture_output=True, text=True, env=env,
                             timeout=120)  # fmt: skip
    assert run.returncode == 2
    assert (
        run.stderr.strip() == f"error: cannot listen on 127.0.0.1:{port}: Address already in use (pick another "
        "--port, or stop what uses it)"
    )


def test_with_a_key_every_endpoint_but_health_requires_it(start_server: Callable[..., RunningServer]) -> None:
    server = start_server(api_key="s3cret")
    assert httpx.get(server.url + "/health", timeout=30).status_code == 200
    for method, path in [("GET", "/v1/models"), ("POST", "/api/search"), ("GET", "/api/status"),
                         ("GET", "/openapi.json"), ("POST", "/mcp")]:  # fmt: skip
        refused = httpx.request(method, server.url + path, json={"query": "x"}, timeout=30)
        assert refused.status_code == 401, path
        assert refused.json()["error"]["message"].startswith("missing or wrong API key")
    wrong = httpx.get(server.url + "/v1/models", headers={"Authorization": "Bearer nope"}, timeout=30)
    assert wrong.status_code == 401
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=server.url + "/v1", api_key="nope", max_retries=0).models.list()
    good = openai.OpenAI(base_url=server.url + "/v1", api_key="s3cret", max_retries=0)
    assert [m.id for m in good.models.list()] == ["ragkit:default"]


def test_cors_is_off_unless_an_origin_is_configured(start_server: Callable[..., RunningServer]) -> None:
    preflight = {"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}
    closed = start_server()
    answer = httpx.options(closed.url + "/v1/chat/completions", headers=preflight, timeout=30)
    assert "access-control-allow-origin" not in answer.headers
    opened = start_server(cors_origins=("https://app.example",))
    allowed = httpx.options(opened.url + "/v1/chat/completions",
                            headers={**preflight, "Origin": "https://app.example"}, timeout=30)  # fmt: skip
    assert allowed.headers.get("access-control-allow-origin") == "https://app.example"
    other = httpx.options(opened.url + "/v1/chat/completions", headers=preflight, timeout=30)
    assert other.headers.get("access-control-allow-origin") != "https://evil.example"


def test_oversized_requests_are_refused(start_server: Callable[..., RunningServer]) -> None:
    server = start_server(max_request_kb=4)
    big = {"messages": [{"role": "user", "content": "x" * 10_000}]}
    refused = httpx.post(server.url + "/v1/chat/completions", json=big, timeout=30)
    assert refused.status_code == 413 and "over 4 KB" in refused.json()["error"]["message"]

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"query": "'
        for _ in range(10):
            yield b"y" * 1000
        yield b'"}'

    streamed = httpx.post(server.url + "/api/search", content=chunks(), timeout=30)
    assert streamed.status_code == 413


def test_ingest_only_under_the_roots(server: RunningServer, docs: Path, tmp_path: Path) -> None:
    outside = tmp_path / "private"
    outside.mkdir()
    (outside / "secret.txt").write_text("the vault code is 0451\n")
    escape_link = docs / "escape"
    escape_link.symlink_to(outside)
    for paths in ([str(outside)], [str(docs / ".." / "private")], [str(escape_link)], [str(docs), "/etc"]):
        refused = httpx.post(server.url + "/api/ingest", json={"paths": paths}, timeout=30)
        assert refused.status_code == 403, paths
        assert "outside the folders this server may ingest" in refused.json()["error"]["message"]
    refused = httpx.post(server.url + "/api/forget", json={"paths": [str(outside)]}, timeout=30)
    assert refused.status_code == 403
    search = httpx.post(server.url + "/api/search", json={"query": "vault code"}, timeout=30).json()
    assert all("secret" not in p["path"] for p in search["passages"])


def test_ingest_is_off_without_roots(start_server: Callable[..., RunningServer], docs: Path) -> None:
    server = start_server(ingest_roots=())
    refused = httpx.post(server.url + "/api/ingest", json={"paths": [str(docs)]}, timeout=30)
    assert refused.status_code == 403
    assert "ingesting through the server is off" in refused.json()["error"]["message"]


class BrokenEmbedder:
    """An embedder that fails the way a bug would: the server must answer JSON, not a traceback."""

    model_id = "broken"
    max_tokens = 256

    @property
    def counter(self):  # type: ignore[no-untyped-def]
        raise RuntimeError("internal detail that must not leak")

    def embed(self, texts: list[str]):  # type: ignore[no-untyped-def]
        raise RuntimeError("internal detail that must not leak")


def test_an_unexpected_failure_is_a_json_error_without_a_traceback(serve_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from ragkit.serving.service import Service

    server = RunningServer(Service(serve_settings.replace(data_dir=tmp_path / "empty"), embedder=BrokenEmbedder()))
    try:
        reply = httpx.post(server.url + "/v1/embeddings", json={"input": "x"}, timeout=30)
    finally:
        server.stop()
    assert reply.status_code == 500
    assert reply.json()["error"]["message"] == "internal error: RuntimeError (details in the server log)"
    assert "Traceback" not in reply.text and "must not leak" not in reply.text
