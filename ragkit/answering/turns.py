"""One llama.cpp context, many callers: answers take turns in arrival order.

A turn lasts from the model call until its tokens are read to the end, closed,
or garbage-collected, so two answers never interleave on one KV cache. A caller
waiting for its turn may be cancelled (it gives its place up). A thread that
asks again while its own earlier answer is still open supersedes it: the older
answer is closed (it ends as stopped) instead of waiting for itself forever."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from ragkit.cancel import CancelToken


class TurnQueue:
    """A first-come, first-served lock whose holder may be another thread's
    open iterator; release() may be called from any thread, once per turn."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._next_ticket = 0
        self._serving = 0
        self._abandoned: set[int] = set()
        self._holder: tuple[int, Callable[[], None]] | None = None  # (thread id, close the open turn)

    def take(self, cancel: CancelToken | None = None) -> int | None:
        """Wait for this caller's turn; its ticket, or None when `cancel` fired first."""
        me = threading.get_ident()
        with self._cond:
            holder = self._holder
        if holder is not None and holder[0] == me:
            holder[1]()  # this thread's own open answer: close it rather than deadlock
        with self._cond:
            ticket = self._next_ticket
            self._next_ticket += 1
            while self._serving != ticket:
                if cancel is not None and cancel.cancelled:
                    self._abandoned.add(ticket)
                    return None
                self._cond.wait(0.05)
            return ticket

    def hold(self, ticket: int, close: Callable[[], None]) -> None:
        """Record who holds `ticket`'s turn, and how to end it early."""
        with self._cond:
            if self._serving == ticket:
                self._holder = (threading.get_ident(), close)

    def release(self, ticket: int) -> None:
        with self._cond:
            if self._serving != ticket:
                return  # released already
            self._holder = None
            self._serving += 1
            while self._serving in self._abandoned:
                self._abandoned.discard(self._serving)
                self._serving += 1
            self._cond.notify_all()


class TurnTokens(Iterator[str]):
    """An answer's tokens that hold a turn: reading them to the end, close(),
    or dropping the last reference ends the turn."""

    def __init__(self, tokens: Iterator[str], queue: TurnQueue, ticket: int, cancel: CancelToken | None) -> None:
        self._tokens = tokens
        self._queue = queue
        self._ticket = ticket
        self._cancel = cancel
        self._closed = False
        self._reading = False
        queue.hold(ticket, self._superseded)

    def _superseded(self) -> None:
        """Its thread asked again before reading it: it ends as stopped."""
        if self._cancel is not None:
            self._cancel.cancel()
        self.close()

    def __next__(self) -> str:
        if self._closed:
            raise StopIteration
        if not self._reading:
            # The thread that reads the answer holds the turn, not the one that asked for it (a server
            # asks on one thread and streams on another): only the reader's own next question supersedes it.
            self._reading = True
            self._queue.hold(self._ticket, self._superseded)
        try:
            return next(self._tokens)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            close = getattr(self._tokens, "close", None)
            if close is not None:
                close()
        finally:
            self._queue.release(self._ticket)

    def __del__(self) -> None:
        self.close()
