"""Reading OpenAI-style server-sent events (`data: {...}` lines up to `data: [DONE]`), as the remote LLM
and the `--server` client both stream answers."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ragkit.cancel import CancelToken
from ragkit.errors import RagkitError

if TYPE_CHECKING:
    import httpx


def sse_json(
    response: httpx.Response, cancel: CancelToken | None, broke_off: Callable[[Exception], RagkitError]
) -> Iterator[dict[str, Any]]:
    """Each event's JSON, none after a cancel. Cancelling closes the response from the cancelling thread: the
    read ends at once, also while the server is still evaluating the prompt, and the server sees its client
    leave. A connection that breaks otherwise raises `broke_off(error)`."""
    import httpx

    unregister = cancel.on_cancel(response.close) if cancel is not None else (lambda: None)
    try:
        for line in response.iter_lines():
            if cancel is not None and cancel.cancelled:
                return  # events already received and buffered are not answers any more
            if not line.startswith("data:"):
                continue
            data = line[len("data:") :].strip()
            if data == "[DONE]":
                return
            yield json.loads(data)
    except (httpx.HTTPError, RuntimeError) as exc:  # RuntimeError: httpx's StreamClosed, after a cancel
        if cancel is None or not cancel.cancelled:
            raise broke_off(exc) from exc
    finally:
        unregister()
        response.close()
