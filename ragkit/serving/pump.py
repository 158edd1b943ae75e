"""An answer for an asyncio adapter (HTTP, MCP): asked for and read on one thread of its own, its tokens
handed to the event loop."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any

from ragkit.cancel import CancelToken

if TYPE_CHECKING:
    from ragkit.answers import AnswerStream
    from ragkit.retrieval.filters import Where
    from ragkit.serving.service import Service

log = logging.getLogger(__name__)

GONE_CHECK = 0.25
"""Seconds between checks that an answer's client is still there."""


class AnswerPump:
    """One answer on a thread of its own: llama.cpp blocks, and the thread that reads an answer is the one
    the model's turn queue knows. Its admission place is given back when the model has really stopped,
    not when the client left."""

    def __init__(self, make_stream: Callable[[], AnswerStream], leave: Callable[..., None]) -> None:
        self.make_stream = make_stream
        self.leave = leave
        self.stream: AnswerStream | None = None
        self.queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()

    @classmethod
    async def begin(
        cls,
        service: Service,
        messages: list[dict[str, str]],
        *,
        index: str | None,
        where: Where | Iterable[str] | None,
        cancel: CancelToken,
    ) -> AnswerPump:
        """Admit the answer (QueueFullError when the model's slots and queue are full) and start it; raises
        what building it raised (no index, a bad filter, the LLM server down)."""
        leave = service.admission.enter()
        pump = cls(lambda: service.answer_stream(messages, index=index, where=where, cancel=cancel), leave)
        await pump.start()
        return pump

    async def start(self) -> None:
        """Start the answer; returns once retrieval is done and the prompt built, or raises what failed."""
        loop = asyncio.get_running_loop()

        def put(item: tuple[str, Any]) -> None:
            loop.call_soon_threadsafe(self.queue.put_nowait, item)

        def pump() -> None:
            stream = None
            try:
                stream = self.make_stream()
                self.stream = stream
                put(("ready", None))
                for token in stream:
                    put(("token", token))
                put(("end", stream.answer))
            except BaseException as exc:
                put(("error", exc))
            finally:
                answer = stream.answer if stream is not None else None
                self.leave(stopped=stream is not None and (answer is None or answer.stopped))

        threading.Thread(target=pump, name="ragkit-answer", daemon=True).start()
        kind, value = await self.queue.get()
        if kind == "error":
            raise value

    async def items(
        self, cancel: CancelToken, client_gone: Callable[[], Awaitable[bool]] | None = None
    ) -> AsyncIterator[tuple[str, Any]]:
        """("token", text) for each token, then ("end", answer). The model stops when `client_gone` says so
        (checked every GONE_CHECK seconds, also while tokens flow: a client gone mid-answer must not keep the
        model busy to max_tokens) or when this iteration is abandoned."""
        checked = time.monotonic()
        try:
            while True:
                try:
                    kind, value = await asyncio.wait_for(self.queue.get(), timeout=GONE_CHECK)
                except asyncio.TimeoutError:
                    kind, value = "", None
                if client_gone is not None and time.monotonic() - checked >= GONE_CHECK:
                    checked = time.monotonic()
                    if await client_gone():
                        log.info("client went away: stopping its answer")
                        cancel.cancel()
                        return
                if kind == "error":
                    raise value
                if kind:
                    yield kind, value
                if kind == "end":
                    return
        finally:
            if self.stream is None or self.stream.answer is None:
                cancel.cancel()  # abandoned (client gone, call cancelled): stop the model now
