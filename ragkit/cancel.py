"""Stopping long calls from any thread. One design everywhere: a call that
can take long (`ingest`, `ask_stream`, `ask`, `ask_documents`) takes a
`cancel=` token; any thread may call `token.cancel()`, and the call returns
soon after with what it had (an ingest keeps every file it committed; an
answer keeps the text generated so far, marked `stopped`). `AnswerStream`
also has `.cancel()` for its own token."""

from __future__ import annotations

import threading
from collections.abc import Callable


class CancelToken:
    """A flag any thread can raise once, and the long call checks."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: list[Callable[[], None]] = []

    def cancel(self) -> None:
        """Ask the call to stop. Safe from any thread, and more than once."""
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Sleep until cancelled or `timeout` passes; True when cancelled."""
        return self._event.wait(timeout)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Run `callback` when cancelled (at once if already); returns a function that unregisters it."""
        with self._lock:
            if not self._event.is_set():
                self._callbacks.append(callback)
                return lambda: self._discard(callback)
        callback()
        return lambda: None

    def _discard(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)
