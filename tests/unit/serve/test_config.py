"""ServeConfig: defaults are the safe ones, typos fail loudly, the shipped example validates."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tuneforge.errors import ConfigError, TuneforgeError
from tuneforge.serve.config import ServeConfig, load_serve_config, serve_config_from_dict

EXAMPLE = Path(__file__).parents[3] / "configs" / "serve" / "serve.yaml"


def test_config_defaults_bind_loopback_require_keys_and_no_cors() -> None:
    config = ServeConfig()
    assert (config.host, config.auth, config.cors_origins) == ("127.0.0.1", "required", [])
    assert config.batching.enabled


def test_config_example_file_is_valid_and_matches_defaults() -> None:
    assert load_serve_config(EXAMPLE) == ServeConfig()


def test_config_typo_names_the_key_and_suggests() -> None:
    with pytest.raises(
        ConfigError,
        match=r"unknown key batching\.max_batch_sise \(did you mean batching\.max_batch_size\?\)",
    ):
        serve_config_from_dict({"batching": {"max_batch_sise": 8}})
    with pytest.raises(ConfigError, match="auth"):
        serve_config_from_dict({"auth": "optional"})


def test_config_batching_false_is_short_for_disabled(tmp_path: Path) -> None:
    path = tmp_path / "serve.yaml"
    path.write_text("batching: false\nport: 9000\n", encoding="utf-8")
    config = load_serve_config(path, port=9100, host=None)
    assert not config.batching.enabled
    assert config.port == 9100  # command-line options win over the file
    with pytest.raises(ConfigError, match="does not exist"):
        load_serve_config(tmp_path / "missing.yaml")


def test_config_ray_export_names_the_extra_when_ray_is_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Hidden, not skipped: the test environment installs Ray (for Ray Tune and Ray Train).
    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.setitem(sys.modules, "ray.serve", None)
    from tuneforge.serve.ray_deployment import build_ray_app

    with pytest.raises(TuneforgeError, match=r"tuneforge\[ray\]"):
        build_ray_app(ServeConfig())
