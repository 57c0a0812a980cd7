"""Helpers for the data-stage tests: a config pointing at files written under tmp_path."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tuneforge.config import RunConfig, config_from_dict


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., RunConfig]:
    """``make_config(source, task="classification", cleaning=None, split=None, **data)``."""

    def build(
        source: str,
        task: str = "classification",
        cleaning: dict[str, Any] | None = None,
        split: dict[str, Any] | None = None,
        **data: Any,
    ) -> RunConfig:
        section = {"source": source, **data}
        if cleaning:
            section["cleaning"] = cleaning
        if split:
            section["split"] = split
        raw = {"data": section, "task": {"type": task}}
        return config_from_dict(raw, config_dir=str(tmp_path))

    return build


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path
