from __future__ import annotations

from pathlib import Path

import pytest

from ragkit import Settings
from ragkit.errors import ConfigError


def test_layers_rise_in_priority_defaults_toml_env_flags(tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text('index = "from-user"\nctx = 2048\ntop-k = 7\n')
    project = tmp_path / "project.toml"
    project.write_text('index = "from-project"\n')
    env = {"RAGKIT_CTX": "8192", "RAGKIT_OFFLINE": "true", "UNRELATED": "x"}

    s = Settings.load(config_files=(user, project), env=env, max_tokens=128, model=None)

    assert s.index == "from-project"  # project file over user file
    assert s.top_k == 7  # from the user file, dashes accepted
    assert s.ctx == 8192  # env over files, converted to int
    assert s.offline is True
    assert s.max_tokens == 128  # explicit override
    assert s.model is None  # None overrides fall through to lower layers
    assert s.chunk_tokens == Settings().chunk_tokens  # untouched default


def test_index_dir_and_models_dir_follow_data_dir(tmp_path: Path) -> None:
    s = Settings.load(config_files=(), env={}, data_dir=tmp_path, index="notes")
    assert s.index_dir == tmp_path / "indexes" / "notes"
    assert s.models_dir == tmp_path / "models"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"index": "../escape"}, "invalid index name"),
        ({"ctx": 200000}, "ctx 200000 is out of range"),
        ({"top_kk": 3}, "unknown setting"),
    ],
)
def test_bad_settings_fail_with_one_clear_line(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.load(config_files=(), env={}, **overrides)


def test_unreadable_toml_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "ragkit.toml"
    bad.write_text("index = [unclosed")
    with pytest.raises(ConfigError, match=r"ragkit\.toml: cannot read config"):
        Settings.load(config_files=(bad,), env={})


def test_hf_hub_offline_env_means_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert Settings.load(config_files=(), env={}).is_offline
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not Settings.load(config_files=(), env={}).is_offline
