"""Comparing loop states of two runs."""

from __future__ import annotations

from typing import Any


def without_wall_time(state: dict[str, Any]) -> dict[str, Any]:
    """The loop state less its wall-clock seconds, the one field no two runs share."""
    assert state["train_seconds"] > 0
    return {key: value for key, value in state.items() if key != "train_seconds"}
