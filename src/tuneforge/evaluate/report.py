"""Show metric dicts as rich tables and write them to disk as JSON."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from numbers import Real
from pathlib import Path
from typing import Any

from rich.table import Table

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
    """Write a metrics dict as indented JSON, atomically.

    The JSON goes to a temporary file in the same folder, is fsynced and then renamed over
    ``path`` with ``os.replace`` (atomic on POSIX and Windows within one file system), so a
    reader or a crash never sees half a file. NaN and infinity are refused rather than written
    as the non-standard ``NaN`` token that strict JSON parsers reject.

    Args:
        metrics: JSON-serialisable dict of metrics.
        path: Destination file; missing parent folders are created.

    Raises:
        TypeError: If a value is not JSON-serialisable.
        ValueError: If a value is NaN or infinite.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Serialise first: a bad value then fails before any file is touched.
    text = json.dumps(metrics, indent=2, allow_nan=False) + "\n"
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Persist the rename itself (POSIX); folders cannot be opened for fsync on Windows."""
    if os.name != "posix":
        return
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


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
