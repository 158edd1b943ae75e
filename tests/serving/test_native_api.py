"""ragkit's own endpoints: search with retrieval details, ingest as a background job with progress as
server-sent events, status, documents, forget."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.serving.conftest import RunningServer


def test_search_returns_passages_with_retrieval_details(server: RunningServer) -> None:
    found = httpx.post(server.url + "/api/search", json={"query": "storage quota", "k": 1, "mode": "bm25"},
                       timeout=60).json()  # fmt: skip
    (passage,) = found["passages"]
    assert "12 GB" in passage["text"] and passage["path"].endswith("faq.txt")
    assert passage["retrieval"]["bm25_rank"] == 1 and passage["retrieval"]["dense_rank"] is None
    only_md = httpx.post(server.url + "/api/search", json={"query": "storage quota", "where": ["type=markdown"]},
                         timeout=60).json()  # fmt: skip
    assert all(p["path"].endswith(".md") for p in only_md["passages"])


def test_ingest_job_streams_progress_then_its_report(server: RunningServer, docs: Path) -> None:
    (docs / "parking.md").write_text("# Parking\n\nVisitors park on level minus two, bay 40.\n")
    job = httpx.post(server.url + "/api/ingest", json={"paths": [str(docs)]}, timeout=60)
    assert job.status_code == 202 and job.json()["state"] == "running"
    job_id = job.json()["id"]
    events = []
    with httpx.stream("GET", f"{server.url}/api/ingest/{job_id}/events", timeout=120) as stream:
        for line in stream.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line[6:]))
    assert events[-1]["phase"] == "done"
    assert events[-1]["report"]["files_new"] == 1 and events[-1]["report"]["files_unchanged"] == 2
    assert any(e["phase"] == "embed" for e in events[:-1])
    status = httpx.get(f"{server.url}/api/ingest/{job_id}", timeout=60).json()
    assert status["state"] == "done" and status["report"]["chunks_added"] >= 1
    found = httpx.post(server.url + "/api/search", json={"query": "where do visitors park", "k": 1}, timeout=60)
    assert "bay 40" in found.json()["passages"][0]["text"]
    index = httpx.get(server.url + "/api/status", timeout=60).json()
    assert index["files"] == 3 and index["index"] == "default"
    assert httpx.get(server.url + "/api/ingest/ingest-999", timeout=60).status_code == 404


def test_documents_and_forget(server: RunningServer, docs: Path) -> None:
    listed = httpx.get(server.url + "/api/documents", timeout=60).json()["documents"]
    assert [d["path"] for d in listed] == [str(docs / "faq.txt"), str(docs / "ops.md")]
    passages = httpx.get(server.url + "/api/documents/passages", params={"path": str(docs / "ops.md")},
                         timeout=60).json()["passages"]  # fmt: skip
    assert "".join(p["text"] for p in passages).count("API keys") >= 1
    forgotten = httpx.post(server.url + "/api/forget", json={"paths": [str(docs / "faq.txt")]}, timeout=60)
    assert forgotten.status_code == 200
    listed = httpx.get(server.url + "/api/documents", timeout=60).json()["documents"]
    assert [d["path"] for d in listed] == [str(docs / "ops.md")]
    found = httpx.post(server.url + "/api/search", json={"query": "storage quota"}, timeout=60).json()
    assert all(not p["path"].endswith("faq.txt") for p in found["passages"])


def test_an_ingest_job_can_be_stopped_and_the_next_one_carries_on(server: RunningServer, docs: Path) -> None:
    notes = docs / "notes"
    notes.mkdir()
    for i in range(120):
        (notes / f"n{i:03d}.md").write_text(f"# Note {i}\n\nLocker {i} holds the spare badge number {i * 31}.\n")
    job = httpx.post(server.url + "/api/ingest", json={"paths": [str(notes)]}, timeout=60).json()
    stopped = httpx.delete(f"{server.url}/api/ingest/{job['id']}", timeout=60)
    assert stopped.status_code == 200
    with httpx.stream("GET", f"{server.url}/api/ingest/{job['id']}/events", timeout=120) as events:
        last = [json.loads(line[6:]) for line in events.iter_lines() if line.startswith("data: ")][-1]
    assert last["phase"] == "stopped" and last["report"]["stopped"] is True
    assert last["report"]["files_new"] < 120
    again = httpx.post(server.url + "/api/ingest", json={"paths": [str(notes)]}, timeout=60).json()
    with httpx.stream("GET", f"{server.url}/api/ingest/{again['id']}/events", timeout=300) as events:
        last = [json.loads(line[6:]) for line in events.iter_lines() if line.startswith("data: ")][-1]
    assert last["phase"] == "done"
    status = httpx.get(server.url + "/api/status", timeout=60).json()
    assert status["files"] == 122 and status["interrupted_files"] == 0
