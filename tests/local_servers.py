"""Starting real servers (llama.cpp's, Chroma's, ragkit's) as subprocesses on 127.0.0.1 for a test."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(cmd: list[str], ready_url: str, env: dict[str, str] | None = None,
                 seconds: float = 120) -> subprocess.Popen[bytes]:  # fmt: skip
    """Start `cmd` and wait until `ready_url` answers 200; fails the test if it exits or takes too long."""
    process = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"{cmd[0]} {cmd[1]} did not start (exit code {process.poll()})")
        time.sleep(0.2)
