"""The answer cache, through the CLI: the same question over an unchanged index
is answered from the cache; any change to the index, or --no-cache, asks the model."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path

from tests.conftest import FAQ_DOC, KEYS_DOC, write_docs

Cli = Callable[..., subprocess.CompletedProcess[str]]


def ask(cli: Cli, model: Path, *extra: str) -> dict[str, object]:
    result = cli("ask", "How often are API keys rotated?", "--model", str(model), "--max-tokens", "8", "--json", *extra)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_same_question_is_answered_from_the_cache_until_the_index_changes(
    cli: Cli, tmp_path: Path, tiny_phi3: Path
) -> None:
    docs = write_docs(tmp_path / "docs", {"ops.md": KEYS_DOC, "faq.txt": FAQ_DOC})
    assert cli("ingest", str(docs)).returncode == 0
    first = ask(cli, tiny_phi3)
    assert first["cached"] is False
    again = ask(cli, tiny_phi3)
    assert again["cached"] is True
    assert again["text"] == first["text"] and again["sources"] == first["sources"]

    assert ask(cli, tiny_phi3, "--no-cache")["cached"] is False
    assert ask(cli, tiny_phi3, "-k", "1")["cached"] is False  # other settings, another answer

    # Rich output says so.
    shown = cli("ask", "How often are API keys rotated?", "--model", str(tiny_phi3), "--max-tokens", "8")
    assert shown.returncode == 0, shown.stderr
    assert "answered before" in shown.stdout

    (docs / "ops.md").write_text(KEYS_DOC.replace("45 days", "30 days"), encoding="utf-8")
    assert cli("ingest", str(docs)).returncode == 0
    assert ask(cli, tiny_phi3)["cached"] is False  # an edit invalidates
    assert ask(cli, tiny_phi3)["cached"] is True

    assert cli("forget", str(docs / "faq.txt")).returncode == 0
    assert ask(cli, tiny_phi3)["cached"] is False  # so does a forget

    assert cli("ingest", str(docs)).returncode == 0  # faq.txt back
    assert ask(cli, tiny_phi3)["cached"] is False
    assert cli("ingest", str(docs)).returncode == 0  # nothing changed: the cache holds
    assert ask(cli, tiny_phi3)["cached"] is True


def test_a_stopped_answer_is_not_cached(make_kit: Callable[..., object], docs: Path, tiny_phi3: Path) -> None:
    from ragkit import CancelToken, Ragkit

    kit = make_kit(model=str(tiny_phi3))
    assert isinstance(kit, Ragkit)
    kit.ingest([docs])
    stop = CancelToken()
    stream = kit.ask_stream("How often are API keys rotated?", cancel=stop)
    stop.cancel()  # before the prompt is evaluated: nothing to keep
    for _ in stream:
        pass
    assert stream.answer is not None and stream.answer.stopped
    assert kit.ask("How often are API keys rotated?").cached is False
    assert kit.ask("How often are API keys rotated?").cached is True
