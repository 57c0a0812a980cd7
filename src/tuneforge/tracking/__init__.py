"""Experiment tracking (MLflow or TensorBoard): parameters, every logged metric, system figures
and run artifacts, behind one small Tracker interface. A tracking failure warns once and never
stops training."""

from tuneforge.tracking.base import (
    HistoryLogger,
    NullTracker,
    Tracker,
    flatten_params,
    open_tracker,
    run_artifacts,
    tracked,
)

__all__ = [
    "HistoryLogger",
    "NullTracker",
    "Tracker",
    "flatten_params",
    "open_tracker",
    "run_artifacts",
    "tracked",
]
