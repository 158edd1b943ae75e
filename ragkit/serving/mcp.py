"""ragkit's MCP tools, with the official MCP SDK: `ragkit mcp` serves them over
stdio (desktop assistants, editors) and `ragkit serve` at /mcp (streamable
HTTP). Each tool is one library call (ragkit.serving.service)."""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from ragkit.cancel import CancelToken
from ragkit.errors import RagkitError
from ragkit.serving.pump import AnswerPump
from ragkit.serving.service import Service, answer_extension, source_dict

PROGRESS_EVERY = 0.2
"""Seconds between progress notifications carrying the answer so far."""

INSTRUCTIONS = (
    "Search and answer from the user's own indexed documents. `ask` answers with numbered citations [n] "
    "checked against the passages it was given; `search` returns passages with their file and lines or pages."
)


def mcp_server(service: Service) -> MCPServer[Any]:
    server: MCPServer[Any] = MCPServer("ragkit", instructions=INSTRUCTIONS, log_level="WARNING")

    def tool_error(exc: RagkitError) -> ToolError:
        return ToolError(str(exc))  # one line for the assistant, never a traceback

    @server.tool()
    def search(query: str, k: int = 5, where: list[str] | None = None, index: str | None = None) -> dict[str, Any]:
        """Passages of the user's documents that best match `query`, best first, each with its file, lines or
        page, and score. `where` limits the files: ["path=notes/**", "type=pdf", "after=30d"]."""
        try:
            found = service.kit(index).search(query, k, where=where)
        except RagkitError as exc:
            raise tool_error(exc) from exc
        return {"passages": [source_dict(s) for s in found]}

    @server.tool()
    async def ask(question: str, ctx: Context, where: list[str] | None = None,
                  index: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Answer `question` from the user's documents. The answer cites passages as [n]; `sources` lists
        every passage given to the model, `cited` marking those the answer relies on. `found` is false
        when the documents do not hold the answer. While it is written, progress notifications carry the
        answer so far (to a client that sent a progress token)."""
        cancel = CancelToken()
        text, sent = "", 0.0
        try:
            messages = [{"role": "user", "content": question}]
            pump = await AnswerPump.begin(service, messages, index=index, where=where, cancel=cancel)
            async for kind, value in pump.items(cancel):  # a cancelled call abandons it: the model stops
                if kind == "token":
                    text += value
                    if time.monotonic() - sent >= PROGRESS_EVERY:
                        sent = time.monotonic()
                        await ctx.report_progress(len(text), None, text)
        except RagkitError as exc:
            raise tool_error(exc) from exc
        result = pump.stream.answer if pump.stream is not None else None
        assert result is not None
        return {"answer": result.text, **answer_extension(result)}

    @server.tool()
    def list_documents(index: str | None = None) -> dict[str, Any]:
        """Every file in the index, with its format and when it was last modified."""
        try:
            return {"documents": [asdict(d) for d in service.kit(index).documents()]}
        except RagkitError as exc:
            raise tool_error(exc) from exc

    @server.tool()
    def read_document(path: str, start: int | None = None, end: int | None = None,
                      index: str | None = None) -> dict[str, Any]:  # fmt: skip
        """An indexed file's passages in order; with `start`/`end`, only those overlapping that line range
        (or page range, for PDFs and slides)."""
        try:
            passages = service.kit(index).read_document(path, start, end)
        except RagkitError as exc:
            raise tool_error(exc) from exc
        return {"path": path, "passages": [source_dict(s) for s in passages]}

    if service.roots:

        @server.tool()
        def ingest(paths: list[str], index: str | None = None) -> dict[str, Any]:
            """Index files or folders (on the server, under its ingest roots); only what changed is read
            again. Returns the report when done."""
            try:
                allowed = service.allowed_paths(paths)
                report = service.kit(index, create=True).ingest(allowed)
            except RagkitError as exc:
                raise tool_error(exc) from exc
            return report.to_dict()

    return server


def run_stdio(service: Service) -> None:
    """Serve the tools on stdin/stdout until the client closes them."""
    mcp_server(service).run("stdio")
