"""`ragkit serve`'s HTTP adapter: the OpenAI API (models, chat completions
streamed or not, embeddings), ragkit's own endpoints (search, ingest jobs,
status, forget, documents) and MCP at /mcp. It only translates: every
answer, search and ingest is the library's (ragkit.serving.service)."""

from __future__ import annotations

import hmac
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragkit.cancel import CancelToken
from ragkit.errors import (
    ConfigError,
    ContextMemoryError,
    EmptyIndexError,
    IndexLockedError,
    ModelNotFoundError,
    NoMatchError,
    RagkitError,
)
from ragkit.serving.pump import AnswerPump
from ragkit.serving.service import (
    MODEL_PREFIX,
    IngestRefusedError,
    QueueFullError,
    Service,
    answer_extension,
    is_loopback,
    source_dict,
)

log = logging.getLogger(__name__)

OPEN_PATHS = ("/health",)
"""What answers without the API key: a load balancer's health check."""


# -- request bodies (they make the OpenAPI schema) ------------------------------


class ContentPart(BaseModel):
    type: str = "text"
    text: str = ""


class ChatMessage(BaseModel):
    role: str
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text")
        return self.content or ""


class RagkitOptions(BaseModel):
    where: list[str] | None = Field(None, description="Only some files: path=GLOB, type=pdf, after=30d, ...")


class ChatCompletionRequest(BaseModel):
    model: str = Field("", description="ragkit:INDEX (see GET /v1/models); empty: the served index.")
    messages: list[ChatMessage]
    stream: bool = False
    ragkit: RagkitOptions | None = Field(None, description="ragkit's extension: a filter on the files searched.")
    model_config = {"extra": "allow"}  # temperature, max_tokens...: the server's settings decide


class EmbeddingRequest(BaseModel):
    input: str | list[str]
    model: str = ""
    model_config = {"extra": "allow"}


class SearchRequest(BaseModel):
    query: str = Field(min_length=1)
    k: int | None = Field(None, ge=1, le=100)
    where: list[str] | None = None
    mode: Literal["hybrid", "dense", "bm25"] | None = None
    index: str | None = None


class PathsRequest(BaseModel):
    paths: list[str] = Field(min_length=1)
    index: str | None = None


# -- errors: OpenAI's shape, one clear message, never a traceback ---------------


def error_response(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    body = {"error": {"message": message, "type": kind, "param": None, "code": status}}
    return JSONResponse(body, status_code=status, headers=headers)


_STATUS = [
    (QueueFullError, 429, "rate_limit_exceeded"),
    (IngestRefusedError, 403, "permission_denied"),
    (NoMatchError, 404, "not_found"),
    (EmptyIndexError, 409, "index_empty"),
    (IndexLockedError, 409, "index_busy"),
    (ConfigError, 400, "invalid_request_error"),
    (ModelNotFoundError, 503, "model_unavailable"),
    (ContextMemoryError, 503, "out_of_memory"),
]


def ragkit_error_response(exc: RagkitError) -> JSONResponse:
    from ragkit.answering.remote_llm import LLMServerError

    status, kind = 400, "invalid_request_error"
    if isinstance(exc, LLMServerError):
        status, kind = 502, "upstream_error"
    for error_class, error_status, error_kind in _STATUS:
        if isinstance(exc, error_class):
            status, kind = error_status, error_kind
            break
    headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, QueueFullError) else None
    return error_response(status, str(exc), kind, headers)


# -- plain ASGI middleware: they see every request, /mcp included ----------------


class RequireApiKey:
    """Every path but the health check needs `Authorization: Bearer KEY`."""

    def __init__(self, app: ASGIApp, api_key: str) -> None:
        self.app = app
        self.expected = f"Bearer {api_key}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] not in OPEN_PATHS:
            given = dict(scope["headers"]).get(b"authorization", b"")
            if not hmac.compare_digest(given, self.expected):
                response = error_response(401, "missing or wrong API key: send Authorization: Bearer KEY",
                                          "authentication_error")  # fmt: skip
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class LimitBodySize:
    """Refuse request bodies over `limit` bytes, by Content-Length or as they stream in."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = error_response(413, f"request body over {self.limit // 1024} KB", "invalid_request_error")
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await too_big(scope, receive, send)
            return
        received = 0
        refused = False

        async def counted() -> Message:
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > self.limit:
                    # Answer now; the app sees the client leave and whatever it replies is dropped.
                    refused = True
                    await too_big(scope, receive, send)
                    return {"type": "http.disconnect"}
            return message

        async def send_unless_refused(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, counted, send_unless_refused)


# -- the app ---------------------------------------------------------------------


def create_app(service: Service, *, host: str = "127.0.0.1") -> FastAPI:
    """The ASGI app for `service`; `host` is where it listens (MCP's DNS-rebinding guard depends on it)."""
    from ragkit.serving.mcp import mcp_server

    settings = service.settings
    mcp = mcp_server(service)
    mcp_app = mcp.streamable_http_app(streamable_http_path="/mcp", host=host, **_mcp_security(host))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with mcp.session_manager.run():
            yield
        service.close()

    app = FastAPI(
        title="ragkit",
        summary="Cited answers from your own documents: OpenAI-compatible API, search, ingest and MCP.",
        version=_version(),
        lifespan=lifespan,
    )
    app.router.routes.extend(r for r in mcp_app.routes if getattr(r, "path", "") == "/mcp")

    @app.exception_handler(RagkitError)
    async def on_ragkit_error(_: Request, exc: RagkitError) -> JSONResponse:
        return ragkit_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        return error_response(400, f"invalid request: {where}: {first.get('msg', 'malformed')}",
                              "invalid_request_error")  # fmt: skip

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(exc.status_code, str(exc.detail), "invalid_request_error")

    @app.exception_handler(Exception)
    async def on_unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected %s", exc.__class__.__name__, exc_info=exc)
        return error_response(500, f"internal error: {exc.__class__.__name__} (details in the server log)",
                              "server_error")  # fmt: skip

    @app.get("/health", tags=["server"])
    def health() -> dict[str, Any]:
        """Liveness, and how busy the model is (answers running or waiting, finished, stopped, refused)."""
        a = service.admission
        answers = {"in_flight": a.in_flight, "capacity": a.capacity, "finished": a.finished, "stopped": a.stopped,
                   "refused": a.refused}  # fmt: skip
        return {"status": "ok", "version": _version(), "index": settings.index, "answers": answers}

    # -- OpenAI ------------------------------------------------------------------

    @app.get("/v1/models", tags=["openai"])
    def list_models() -> dict[str, Any]:
        """One model per index: `ragkit:NAME`."""
        return {
            "object": "list",
            "data": [
                {"id": MODEL_PREFIX + name, "object": "model", "created": 0, "owned_by": "ragkit"}
                for name in service.index_names()
            ],
        }

    @app.post("/v1/chat/completions", tags=["openai"], response_model=None)
    async def chat_completions(body: ChatCompletionRequest, request: Request) -> JSONResponse | StreamingResponse:
        """The last user message is the question, earlier ones the conversation. The answer cites passages
        as [n]; the `ragkit` object (on the final chunk when streamed) lists them, each marked `cited`."""
        index = service.index_of_model(body.model)
        messages = [{"role": m.role, "content": m.text()} for m in body.messages]
        where = body.ragkit.where if body.ragkit else None
        cancel = CancelToken()
        # QueueFullError (429) before anything is computed; retrieval and prompt errors are plain error responses.
        pump = await AnswerPump.begin(service, messages, index=index, where=where, cancel=cancel)
        model = MODEL_PREFIX + index
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        if body.stream:
            return StreamingResponse(
                _sse_chunks(pump, request, cancel, completion_id, created, model),
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        parts: list[str] = []
        async for kind, value in pump.items(cancel, request.is_disconnected):
            if kind == "token":
                parts.append(value)
        answer = pump.stream.answer if pump.stream is not None else None
        if answer is None:  # the client went away: nobody reads this
            return error_response(499, "client closed the request", "cancelled")
        return JSONResponse({
            "id": completion_id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer.text},
                         "finish_reason": "stop"}],
            "usage": _usage(answer.prompt_tokens, len(parts)),
            "ragkit": answer_extension(answer),
        })  # fmt: skip

    @app.post("/v1/embeddings", tags=["openai"])
    def embeddings(body: EmbeddingRequest) -> dict[str, Any]:
        """Vectors from the index's own embedder (what its passages were embedded with)."""
        kit = service.kit(service.index_of_model(body.model))
        texts = [body.input] if isinstance(body.input, str) else body.input
        embedder = kit.query_embedder
        vectors = embedder.embed(texts).tolist() if texts else []
        tokens = sum(embedder.counter.count(texts)) if texts else 0
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": v}
                     for i, v in enumerate(vectors)],
            "model": MODEL_PREFIX + kit.settings.index,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }  # fmt: skip

    # -- ragkit's own --------------------------------------------------------------

    @app.post("/api/search", tags=["ragkit"])
    def search(body: SearchRequest) -> dict[str, Any]:
        """Passages that best match the query, with how each retriever ranked them (no LLM)."""
        kit = service.kit(body.index)
        found = kit.search(body.query, body.k, where=body.where, mode=body.mode)
        return {"query": body.query, "index": kit.settings.index, "passages": [source_dict(s) for s in found]}

    @app.post("/api/ingest", tags=["ragkit"], status_code=202)
    def ingest(body: PathsRequest) -> dict[str, Any]:
        """Index server-side files and folders (under the configured ingest roots) in the background."""
        return service.start_ingest(body.paths, body.index).to_dict()

    @app.get("/api/ingest/{job_id}", tags=["ragkit"])
    def ingest_job(job_id: str) -> dict[str, Any]:
        return service.job(job_id).to_dict()

    @app.delete("/api/ingest/{job_id}", tags=["ragkit"])
    def stop_ingest(job_id: str) -> dict[str, Any]:
        """Stop a running ingest: what it committed stays, the next ingest carries on."""
        job = service.job(job_id)
        job.cancel.cancel()
        return job.to_dict()

    @app.get("/api/ingest/{job_id}/events", tags=["ragkit"])
    async def ingest_events(job_id: str, request: Request) -> StreamingResponse:
        """Progress as server-sent events (`data: {...}`), ending with the report."""
        job = service.job(job_id)
        return StreamingResponse(_job_events(job, request), media_type="text/event-stream")

    @app.get("/api/status", tags=["ragkit"])
    def status(index: str | None = None) -> dict[str, Any]:
        from dataclasses import asdict

        return asdict(service.kit(index).status())

    @app.post("/api/forget", tags=["ragkit"])
    def forget(body: PathsRequest) -> dict[str, Any]:
        """Remove files (or everything under folders) from the index."""
        from dataclasses import asdict

        service.allowed_paths(body.paths)  # clients may only change what they may ingest
        return asdict(service.kit(body.index).forget(body.paths))

    @app.get("/api/documents", tags=["ragkit"])
    def documents(index: str | None = None) -> dict[str, Any]:
        from dataclasses import asdict

        return {"documents": [asdict(d) for d in service.kit(index).documents()]}

    @app.get("/api/documents/passages", tags=["ragkit"])
    def read_document(path: str, start: int | None = None, end: int | None = None,
                      index: str | None = None) -> dict[str, Any]:  # fmt: skip
        """A file's passages, optionally only those overlapping lines (or pages) start..end."""
        return {"path": path, "passages": [source_dict(s) for s in service.kit(index).read_document(path, start, end)]}

    if settings.cors_origins:
        from starlette.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["*"], allow_headers=["*"]
        )
    app.add_middleware(LimitBodySize, limit=settings.max_request_kb * 1024)
    if settings.api_key:
        app.add_middleware(RequireApiKey, api_key=settings.api_key)
    return app


def _mcp_security(host: str) -> dict[str, Any]:
    """The SDK guards loopback servers against DNS rebinding; beyond loopback the API key guards them."""
    if is_loopback(host):
        return {}
    from mcp.server.transport_security import TransportSecuritySettings

    return {"transport_security": TransportSecuritySettings(enable_dns_rebinding_protection=False)}


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ragkit")
    except PackageNotFoundError:
        return "0"


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}  # fmt: skip


async def _sse_chunks(
    pump: AnswerPump, request: Request, cancel: CancelToken, completion_id: str, created: int, model: str
) -> AsyncIterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}  # fmt: skip
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    pieces = 0
    try:
        async for kind, value in pump.items(cancel, request.is_disconnected):
            if kind == "token":
                pieces += 1
                yield chunk({"content": value})
            elif kind == "end" and value is not None:
                yield chunk({}, "stop", usage=_usage(value.prompt_tokens, pieces), ragkit=answer_extension(value))
    except RagkitError as exc:
        # Headers are sent: the error goes in-band, as OpenAI's streaming API reports one.
        yield f"data: {json.dumps({'error': {'message': str(exc), 'type': 'server_error'}})}\n\n"
    yield "data: [DONE]\n\n"


async def _job_events(job: Any, request: Request) -> AsyncIterator[str]:
    seen = 0
    while True:
        events, ended = await run_in_threadpool(job.events_after, seen, 1.0)
        for event in events:
            yield f"data: {json.dumps(event)}\n\n"
        seen += len(events)
        if ended and not events:
            return
        if await request.is_disconnected():
            return
