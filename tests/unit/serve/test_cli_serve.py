"""`tuneforge serve`: a bad config is a one-paragraph error (exit 2), not a traceback."""

from __future__ import annotations

from pathlib import Path

from _configs import run_cli


def test_cli_serve_bad_config_exits_2_with_the_key(tmp_path: Path) -> None:
    config = tmp_path / "serve.yaml"
    config.write_text("auth: required\nbatchng: false\n", encoding="utf-8")

    result = run_cli("serve", "--config", str(config), cwd=tmp_path, timeout=120)

    assert result.returncode == 2
    assert "unknown key batchng (did you mean batching?)" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr
