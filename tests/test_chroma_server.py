"""chroma_url against a real Chroma server (`chroma run`, started here on 127.0.0.1): ingest, incremental
re-ingest, search, forget; an ingest killed with SIGKILL and run again; and a team's deployment: two
`ragkit serve` processes answering from one index while a third process ingests into it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import chromadb
import httpx
import pytest

from ragkit import Ragkit, Settings
from tests.conftest import KEYS_DOC, RAGKIT_BIN, write_docs
from tests.local_servers import free_port, start_server

CHROMA_BIN = str(Path(sys.executable).with_name("chroma"))


@pytest.fixture
def chroma_url(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server(
        [CHROMA_BIN, "run", "--path", str(tmp_path / "chroma-server"), "--host", "127.0.0.1", "--port", str(port)],
        url + "/api/v2/heartbeat",
    )  # fmt: skip
    yield url
    process.kill()
    process.wait(timeout=30)


def test_ingest_search_reingest_and_forget_on_a_chroma_server(
    chroma_url: str, make_kit: Callable[..., Ragkit], docs: Path, tmp_path: Path
) -> None:
    kit = make_kit(chroma_url=chroma_url)
    first = kit.ingest([docs])
    assert first.files_new == 2 and first.chunks_added >= 2
    assert kit.status().location == chroma_url
    assert "45 days" in kit.search("How often are API keys rotated?", k=1)[0].text
    (docs / "ops.md").write_text(KEYS_DOC.replace("45 days", "60 days"))
    again = kit.ingest([docs])
    assert (again.files_changed, again.files_unchanged) == (1, 1)
    assert "60 days" in kit.search("How often are API keys rotated?", k=1)[0].text
    # Another process's view of the same server index (a fresh object, as a second machine would have).
    other = make_kit(chroma_url=chroma_url)
    assert "60 days" in other.search("How often are API keys rotated?", k=1)[0].text
    kit.forget([docs / "faq.txt"])
    assert all(not s.path.endswith("faq.txt") for s in kit.search("storage quota", k=5))
    assert kit.chunk_count() == kit.status().chunks


def _env(settings: Settings, tmp_path: Path, chroma_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ, "RAGKIT_DATA_DIR": str(settings.data_dir), "RAGKIT_CHROMA_URL": chroma_url,
        "RAGKIT_EMBED_RUNTIME": "torch", "RAGKIT_QUERY_EMBEDDER": "torch", "HF_HUB_OFFLINE": "1",
        "XDG_CONFIG_HOME": str(tmp_path / "config"), **extra,
    }  # fmt: skip


def _vectors_on(server: Any) -> int:
    try:
        return int(server.get_collection("ragkit-default").count())
    except Exception:  # not created yet
        return 0


def _many_docs(root: Path, count: int) -> Path:
    return write_docs(root, {f"note{i:03d}.md": f"# Note {i}\n\nThe code for locker {i} is {i * 7919 % 10000:04d}.\n"
                             + "Filler sentence about nothing in particular. " * 40 for i in range(count)})  # fmt: skip


def test_an_ingest_killed_mid_way_then_run_again_leaves_a_complete_index(
    chroma_url: str, settings: Settings, make_kit: Callable[..., Ragkit], tmp_path: Path
) -> None:
    notes = _many_docs(tmp_path / "notes", 150)
    env = _env(settings, tmp_path, chroma_url)
    process = subprocess.Popen([RAGKIT_BIN, "ingest", str(notes)], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)  # fmt: skip
    server = chromadb.HttpClient(host="127.0.0.1", port=int(chroma_url.rsplit(":", 1)[1]))
    deadline = time.monotonic() + 300
    while _vectors_on(server) < 40:  # vectors written to the server, the ingest far from done: kill it now
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    killed = make_kit(chroma_url=chroma_url).status()
    assert killed.files < 150 or killed.interrupted_files > 0
    rerun = subprocess.run([RAGKIT_BIN, "ingest", str(notes)], env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    kit = make_kit(chroma_url=chroma_url)
    status = kit.status()
    assert status.files == 150 and status.interrupted_files == 0
    assert kit.chunk_count() == status.chunks  # no orphan or missing vectors on the server
    assert "1383" in kit.search("code for locker 57", k=1, mode="bm25")[0].text  # 57 * 7919 % 10000
    for number in (0, 57, 149):  # early, middle and late files all have their vectors on the server
        (hit,) = kit.search("locker code", k=1, mode="dense", where=[f"path=**/note{number:03d}.md"])
        assert hit.retrieval is not None and hit.retrieval.dense_rank == 1


def _serve(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], str]:
    url = f"http://127.0.0.1:{free_port()}"
    return start_server([RAGKIT_BIN, "serve", "--port", url.rsplit(":", 1)[1]], url + "/health", env), url


def test_two_servers_answer_from_one_index_while_a_third_process_ingests(
    chroma_url: str, settings: Settings, make_kit: Callable[..., Ragkit], docs: Path, tmp_path: Path, tiny_phi3: Path
) -> None:
    make_kit(chroma_url=chroma_url).ingest([docs])
    env = _env(settings, tmp_path, chroma_url, RAGKIT_MODEL=str(tiny_phi3))
    servers = [_serve(env), _serve(env)]
    try:
        for _, url in servers:  # warm: the embedder loaded
            assert httpx.post(url + "/api/search", json={"query": "keys"}, timeout=120).status_code == 200
        notes = _many_docs(tmp_path / "notes", 120)
        writer = subprocess.Popen([RAGKIT_BIN, "ingest", str(notes)], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE)  # fmt: skip
        answered = 0
        while writer.poll() is None:  # readers keep answering while the writer ingests
            for _, url in servers:
                reply = httpx.post(url + "/api/search", json={"query": "How often are API keys rotated?", "k": 1},
                                   timeout=60)  # fmt: skip
                assert reply.status_code == 200, reply.text
                assert "45 days" in reply.json()["passages"][0]["text"]
                answered += 1
        assert writer.returncode == 0, writer.stderr.read() if writer.stderr else ""
        assert answered >= 4
        for _, url in servers:  # both see what the writer added, without a restart
            found = httpx.post(url + "/api/search", json={"query": "locker code", "k": 1, "mode": "dense",
                               "where": ["path=**/note042.md"]}, timeout=60).json()  # fmt: skip
            assert found["passages"][0]["path"].endswith("note042.md")
            assert httpx.get(url + "/api/status", timeout=60).json()["files"] == 122
    finally:
        for process, _ in servers:
            process.terminate()
            process.wait(timeout=30)
