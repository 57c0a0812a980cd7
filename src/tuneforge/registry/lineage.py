"""What the registry records about a version besides its files: task, labels, test metrics,
config and lineage (where it came from and what exactly it is)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from tuneforge.registry.artifacts import weight_files
from tuneforge.run.info import read_run_info
from tuneforge.run.layout import CONFIG_FILE, DATA_REPORT_FILE, METRICS_FILE, MODEL_DIR

COMPRESSION_FILE = "compression.json"
REFERENCE_PROFILE_FILE = "reference_profile.json"


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def describe_version(
    version_dir: Path,
    source_run: Path,
    digests: dict[str, str],
    reference_profile: bool,
    left_out: list[Path],
) -> dict[str, Any]:
    """Columns of a version read from its (copied) run files.

    Args:
        version_dir: The staged copy of the run.
        source_run: The run folder it was copied from.
        digests: sha256 of every copied file, by relative path.
        reference_profile: Whether reference_profile.json was written.
        left_out: Run files holding texts of the data that were not copied.
    """
    info = read_run_info(version_dir / MODEL_DIR)
    metrics = _read_json(version_dir / METRICS_FILE)
    config_path = version_dir / CONFIG_FILE
    config = (
        yaml.safe_load(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    )
    weights = weight_files([Path(path) for path in digests])
    test_metrics = metrics.get("test", metrics)
    lineage: dict[str, Any] = {
        "source_run": str(source_run.resolve()),
        "main_metric": _main_metric(info.task, config or {}, test_metrics),
        "base_model": info.base_model,
        "adaptation": info.adaptation,
        "backend": info.backend,
        "weights_sha256": {path.as_posix(): digests[path.as_posix()] for path in weights},
        "files": len(digests),
        # Where the data's texts are: a reviewer sees they stayed with the source run.
        "data_rows_left_out": sorted(path.as_posix() for path in left_out),
        "data_report": data_report_summary(version_dir / DATA_REPORT_FILE),
        "reference_profile": reference_profile,
        "tuneforge_version": _tuneforge_version(),
        "created_at": utc_now(),
    }
    if "privacy" in metrics:
        # What DP-SGD spent travels with the version: a compliance review reads it here.
        lineage["privacy"] = metrics["privacy"]
    compression_path = version_dir / COMPRESSION_FILE
    if compression_path.is_file():
        compression = _read_json(compression_path)
        # The scalar facts (method, source, sizes); the full report stays in the artifact folder.
        lineage["compression"] = {
            key: value
            for key, value in compression.items()
            if isinstance(value, str | int | float | bool) or value is None
        }
    return {
        "task": info.task,
        "label_names": list(info.label_names),
        # The test split is the held-out estimate; validation picked the checkpoint.
        "metrics": test_metrics,
        "config": config or {},
        "lineage": lineage,
    }


def _main_metric(task: str, config: dict[str, Any], test_metrics: dict[str, Any]) -> str | None:
    """The metric the run was selected on (training.metric_for_best, else the task's default),
    shown as the headline number of a version; None if the test metrics lack it."""
    from tuneforge.tasks import get_task

    configured = (config.get("training") or {}).get("metric_for_best")
    try:
        name = configured or get_task(task).default_metric
    except ValueError:  # a task type this tuneforge does not know: no headline metric
        return None
    return name if name in test_metrics else None


def data_report_summary(path: Path) -> dict[str, Any] | None:
    """Split sizes, label counts of the training split, quarantine and warnings of a data report."""
    if not path.is_file():
        return None
    report = _read_json(path)
    splits = report.get("splits", {})
    return {
        "split_sizes": {name: split.get("size") for name, split in splits.items()},
        "train_label_counts": splits.get("train", {}).get("label_counts"),
        "quarantined": (report.get("quarantine") or {}).get("total"),
        "warnings": report.get("warnings", []),
    }


def _read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _tuneforge_version() -> str:
    from tuneforge import __version__

    return __version__
