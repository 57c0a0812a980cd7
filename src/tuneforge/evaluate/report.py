"""Show metric dicts as rich tables and write them to disk as JSON."""

from __future__ import annotations

from numbers import Real
from pathlib import Path
from typing import Any

from rich.table import Table

from tuneforge._atomic import write_json_atomic

# Breakdown entry of each metric dict kind and its table title.
_BREAKDOWNS = {
    "per_class": "Per class",
    "per_label": "Per label",
    "per_type": "Per entity type",
}


def metrics_table(metrics: dict[str, Any], title: str) -> Table:
    """Table of the headline numbers: every top-level number of a metrics dict, in its order.

    Works for the dicts of all four tasks; nested entries (per-class breakdown, confusion
    matrix) are left to :func:`per_class_table` and the plots.

    Args:
        metrics: A dict from one of the ``*_metrics`` functions.
        title: Table title, e.g. "Test metrics".

    Returns:
        A two-column rich table (metric, value); undefined values show as "n/a".
    """
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.items():
        if value is None or _is_number(value):
            table.add_row(name, _format(value))
    return table


def per_class_table(metrics: dict[str, Any]) -> Table | None:
    """Table of the per-class, per-label or per-entity-type breakdown of a metrics dict.

    Args:
        metrics: A dict from one of the ``*_metrics`` functions.

    Returns:
        One row per class, label or entity type with its scores (precision, recall, f1,
        support and, for multi-label, threshold); None when the dict has no breakdown
        (regression).
    """
    key = next((key for key in _BREAKDOWNS if metrics.get(key)), None)
    if key is None:
        return None
    breakdown = metrics[key]
    columns = list(dict.fromkeys(column for scores in breakdown.values() for column in scores))
    table = Table(title=_BREAKDOWNS[key])
    table.add_column(key.removeprefix("per_"))
    for column in columns:
        table.add_column(column, justify="right")
    for name, scores in breakdown.items():
        table.add_row(name, *(_format(scores.get(column)) for column in columns))
    return table


def write_metrics(metrics: dict[str, Any], path: Path) -> None:
    """Write a metrics dict as indented JSON, atomically (see tuneforge._atomic)."""
    write_json_atomic(metrics, path)


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def _format(value: object) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if _is_number(value):
        return f"{value:.4f}"
    return str(value)
