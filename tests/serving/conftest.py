"""A real `ragkit serve` app on 127.0.0.1 (uvicorn in a thread of the test process, so a test can look at
the service behind it), over an index of the shared example docs, answering with the tiny phi3 GGUF."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from ragkit import Ragkit, Settings
from ragkit.embedders import SentenceTransformerEmbedder
from ragkit.serving.http import create_app
from ragkit.serving.service import Service


class RunningServer:
    def __init__(self, service: Service, host: str = "127.0.0.1") -> None:
        self.service = service
        self.server = uvicorn.Server(uvicorn.Config(create_app(service, host=host), host=host, port=0,
                                                    log_level="warning"))  # fmt: skip
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline and self.thread.is_alive(), "the server did not start"
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        self.url = f"http://{host}:{port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def serve_settings(settings: Settings, tiny_phi3: Path, docs: Path) -> Settings:
    return settings.replace(model=str(tiny_phi3), ingest_roots=(str(docs),), max_tokens=16)


@pytest.fixture
def start_server(
    serve_settings: Settings, embedder: SentenceTransformerEmbedder, docs: Path
) -> Iterator[Callable[..., RunningServer]]:
    """Start a server over the ingested docs; keyword arguments change its settings."""
    running: list[RunningServer] = []
    ingested: set[Path] = set()

    def start(host: str = "127.0.0.1", **changes: Any) -> RunningServer:
        settings = serve_settings.replace(**changes)
        if settings.data_dir not in ingested:
            Ragkit(settings=settings, embedder=embedder).ingest([docs])
            ingested.add(settings.data_dir)
        server = RunningServer(Service(settings, embedder=embedder), host)
        running.append(server)
        return server

    yield start
    for server in running:
        server.stop()


@pytest.fixture
def server(start_server: Callable[..., RunningServer]) -> RunningServer:
    return start_server()
