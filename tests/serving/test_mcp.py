"""ragkit's MCP tools through the official MCP SDK's own client: over stdio (`ragkit mcp`, as a desktop
assistant starts it) and over streamable HTTP at /mcp on `ragkit serve`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp.client import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from ragkit import Ragkit, Settings
from ragkit.embedders import SentenceTransformerEmbedder
from tests.conftest import RAGKIT_BIN
from tests.serving.conftest import RunningServer


async def exercise(client: Client, docs: Path) -> dict[str, Any]:
    """What an assistant does: list the tools, search, ask, browse a document."""
    tools = {t.name for t in (await client.list_tools()).tools}
    searched = await client.call_tool("search", {"query": "How are API keys rotated?", "k": 2})
    progress: list[str] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append(message or "")

    asked = await client.call_tool("ask", {"question": "How often are API keys rotated?"},
                                   progress_callback=on_progress)  # fmt: skip
    listed = await client.call_tool("list_documents", {})
    read = await client.call_tool("read_document", {"path": str(docs / "ops.md"), "start": 3, "end": 6})
    missing = await client.call_tool("read_document", {"path": str(docs / "nope.md")})
    return {"tools": tools, "search": searched, "ask": asked, "list": listed, "read": read, "missing": missing,
            "progress": progress}  # fmt: skip


def check(results: dict[str, Any], docs: Path) -> None:
    assert {"search", "ask", "list_documents", "read_document", "ingest"} <= results["tools"]
    passages = results["search"].structured_content["passages"]
    assert "45 days" in passages[0]["text"] and passages[0]["path"] == str(docs / "ops.md")
    asked = results["ask"].structured_content
    assert asked["answer"] and asked["sources"][0]["path"].endswith("ops.md")
    assert all("cited" in s for s in asked["sources"])
    # The answer streamed as progress notifications while it was written: the text so far, growing.
    assert results["progress"] and all(results["progress"])
    assert all(b.startswith(a) for a, b in zip(results["progress"], results["progress"][1:]))
    paths = [d["path"] for d in results["list"].structured_content["documents"]]
    assert paths == [str(docs / "faq.txt"), str(docs / "ops.md")]
    read = results["read"].structured_content["passages"]
    assert read and all(p["start_line"] <= 6 and p["end_line"] >= 3 for p in read)
    missing = results["missing"]
    assert missing.is_error and "not in index 'default'" in missing.content[0].text


def test_mcp_over_stdio(settings: Settings, embedder: SentenceTransformerEmbedder, tiny_phi3: Path, docs: Path,
                        tmp_path: Path) -> None:  # fmt: skip
    Ragkit(settings=settings, embedder=embedder).ingest([docs])
    env = {
        **os.environ, "RAGKIT_DATA_DIR": str(settings.data_dir), "RAGKIT_MODEL": str(tiny_phi3),
        "RAGKIT_EMBED_RUNTIME": "torch", "RAGKIT_QUERY_EMBEDDER": "torch", "RAGKIT_MAX_TOKENS": "16",
        "HF_HUB_OFFLINE": "1", "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }  # fmt: skip
    params = StdioServerParameters(command=RAGKIT_BIN, args=["mcp", "--ingest-root", str(docs)], env=env)

    async def run() -> dict[str, Any]:
        async with Client(params) as client:
            return await exercise(client, docs)

    check(anyio.run(run), docs)


def test_mcp_over_http_on_the_server(start_server: Any, docs: Path) -> None:
    server: RunningServer = start_server(api_key="k3y")

    async def run() -> dict[str, Any]:
        http = httpx2.AsyncClient(headers={"Authorization": "Bearer k3y"}, timeout=120)
        async with http, Client(streamable_http_client(server.url + "/mcp", http_client=http)) as client:
            results = await exercise(client, docs)
            new = docs / "new.md"
            new.write_text("# Parking\n\nVisitors park on level minus two, bay 40.\n")
            results["ingest"] = await client.call_tool("ingest", {"paths": [str(new)]})
            results["after"] = await client.call_tool("search", {"query": "where do visitors park", "k": 1})
            results["refused"] = await client.call_tool("ingest", {"paths": ["/etc"]})
            return results

    results = anyio.run(run)
    check({**results, "list": results["list"]}, docs)
    assert results["ingest"].structured_content["files_new"] == 1
    assert "bay 40" in results["after"].structured_content["passages"][0]["text"]
    assert results["refused"].is_error and "outside the folders" in results["refused"].content[0].text
