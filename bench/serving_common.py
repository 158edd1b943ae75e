"""What the serving benchmarks share: loopback ports, waiting for a server, the questions they ask."""

from __future__ import annotations

import socket
import subprocess
import time

import httpx

QUESTIONS = [
    "How are API keys rotated?", "How long are backups kept?", "Who owns the service?",
    "What is the storage quota?", "How do I restore a backup?", "What happens when a key leaks?",
]  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, process: subprocess.Popen[bytes], seconds: float = 180) -> None:
    """Until GET `url` answers 200; exits the benchmark if the server dies or never answers."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if process.poll() is not None:
            raise SystemExit(f"the server for {url} exited with {process.returncode}")
        time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {seconds:.0f} s")
