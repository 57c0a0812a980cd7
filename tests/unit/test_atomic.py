"""write_json_atomic: whole files only, readable by others like any new file, NaN refused."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from tuneforge._atomic import write_json_atomic


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "metrics.json"
    write_json_atomic({"accuracy": 0.5}, path)
    write_json_atomic({"accuracy": 0.9, "label": "sport"}, path)

    assert json.loads(path.read_text(encoding="utf-8")) == {"accuracy": 0.9, "label": "sport"}
    assert [entry.name for entry in path.parent.iterdir()] == ["metrics.json"]


def test_atomic_write_gives_the_mode_of_a_new_file_not_mkstemps_0600(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        write_json_atomic({"a": 1}, tmp_path / "info.json")
    finally:
        os.umask(previous)

    assert stat.S_IMODE((tmp_path / "info.json").stat().st_mode) == 0o644


def test_atomic_write_refuses_nan_and_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    write_json_atomic({"loss": 1.0}, path)

    with pytest.raises(ValueError):
        write_json_atomic({"loss": float("nan")}, path)

    assert json.loads(path.read_text(encoding="utf-8")) == {"loss": 1.0}
    assert [entry.name for entry in tmp_path.iterdir()] == ["metrics.json"]
