"""A local stand-in for the Hugging Face hub's file protocol, for download
tests on a machine with no internet: HEAD and GET on
/{repo}/resolve/{revision}/{filename}, with the headers huggingface_hub reads
(X-Repo-Commit, ETag/X-Linked-Etag = sha256, sizes) and Range requests."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class HubState:
    files: dict[str, bytes] = field(default_factory=dict)  # "repo/filename" -> content
    ranges_seen: list[str] = field(default_factory=list)
    cut_next_get_at: int | None = None  # drop the connection after this many bytes, once


def _handler(state: HubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _lookup(self) -> tuple[str, bytes] | None:
            parts = self.path.split("?")[0].strip("/").split("/")
            if len(parts) < 5 or parts[2] != "resolve":
                return None
            key = f"{parts[0]}/{parts[1]}/{'/'.join(parts[4:])}"
            return (key, state.files[key]) if key in state.files else None

        def _headers(self, data: bytes, status: int, start: int = 0) -> None:
            sha = hashlib.sha256(data).hexdigest()
            self.send_response(status)
            self.send_header("X-Repo-Commit", "0" * 40)
            self.send_header("ETag", f'"{sha}"')
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(len(data) - start))
            if status == 206:
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            self.end_headers()

        def do_HEAD(self) -> None:
            found = self._lookup()
            if found is None:
                self.send_response(404)
                self.send_header("X-Error-Code", "EntryNotFound")
                self.end_headers()
                return
            self._headers(found[1], 200)

        def do_GET(self) -> None:
            found = self._lookup()
            if found is None:
                self.send_error(404)
                return
            data = found[1]
            start = 0
            range_header = self.headers.get("Range")
            if range_header:
                state.ranges_seen.append(range_header)
                start = int(range_header.split("=")[1].split("-")[0])
            self._headers(data, 206 if start else 200, start)
            body = data[start:]
            if state.cut_next_get_at is not None:
                body, state.cut_next_get_at = body[: state.cut_next_get_at], None
                self.wfile.write(body)
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@contextmanager
def hub_standin(state: HubState) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
