"""`ragkit ask/search/chat --server URL`: the CLI asks a warm server instead of loading models itself."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

from tests.serving.conftest import RunningServer

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_ask_through_a_server_streams_a_cited_answer(server: RunningServer, cli: Cli) -> None:
    run = cli("ask", "How often are API keys rotated?", "--server", server.url, "--json")
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert answer["text"] and answer["sources"][0]["path"].endswith("ops.md")
    assert answer["model"] == "ragkit:default" and answer["prompt_tokens"] > 50
    text = cli("ask", "How often are API keys rotated?", "--server", server.url, "--all-sources")
    assert text.returncode == 0 and "ops.md" in text.stdout


def test_search_and_chat_through_a_server(server: RunningServer, cli: Cli) -> None:
    run = cli("search", "storage quota", "-k", "1", "--json", env={"RAGKIT_SERVER": server.url})
    assert run.returncode == 0, run.stderr
    assert "12 GB" in json.loads(run.stdout)["results"][0]["text"]
    chat = cli("chat", "--server", server.url, input="Who owns the service?\n/sources\n")
    assert chat.returncode == 0, chat.stderr
    assert "faq.txt" in chat.stdout


def test_the_cli_loads_no_model_when_a_server_answers(server: RunningServer) -> None:
    probe = (
        "import sys\nfrom typer.testing import CliRunner\nfrom ragkit.cli import app\n"
        f"r = CliRunner().invoke(app, ['ask', 'How often are API keys rotated?', '--server', '{server.url}'])\n"
        "print(r.exit_code, sorted(m for m in ('torch', 'llama_cpp', 'chromadb', 'onnxruntime') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "0 []", out.stdout + out.stderr


def test_flags_the_server_decides_and_a_server_that_is_down(cli: Cli) -> None:
    run = cli("ask", "x", "--server", "http://127.0.0.1:9", "--model", "phi-3-mini-128k")
    assert run.returncode == 2 and "--model does not apply with --server" in run.stderr
    down = cli("search", "x", "--server", "http://127.0.0.1:9")
    assert down.returncode == 9 and "cannot reach the ragkit server at http://127.0.0.1:9" in down.stderr
    assert len(down.stderr.strip().splitlines()) == 1
