"""`tuneforge compress RUN --method M`: one compressed run folder, evaluated and measured against
the original in the same process."""

from __future__ import annotations

import math
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

from tuneforge._atomic import write_json_atomic
from tuneforge.compress.measure import measure_predictor
from tuneforge.compress.methods import (
    CompressOptions,
    SourceRun,
    evaluation_records,
    get_method,
)
from tuneforge.compress.report import write_compressed_model_card
from tuneforge.data.records import Record
from tuneforge.errors import RunError
from tuneforge.inference import OnnxTaskModel, physical_cores
from tuneforge.openvino_runtime import OpenVinoTaskModel
from tuneforge.predict import Predictor, load_predictor
from tuneforge.run import layout
from tuneforge.run.layout import MODEL_DIR

COMPRESSION_FILE = "compression.json"
# What a compressed run shares with its source: the same data, split and cleaning record, so
# `tuneforge evaluate` scores it on exactly the examples the original was scored on.
_COPIED_FROM_SOURCE = (
    layout.CONFIG_FILE,
    layout.SPLITS_DIR,
    layout.DATA_REPORT_FILE,
    layout.QUARANTINE_FILE,
)


@dataclass(frozen=True)
class Variant:
    """A model measured for the trade-off table: the original or a compressed run."""

    name: str
    run_dir: Path
    metrics: dict[str, Any]
    """Test-split metrics, as `tuneforge evaluate` computes them."""
    measurements: dict[str, Any]
    """Size, parameters, latency and throughput from :func:`measure_predictor`."""
    details: dict[str, Any]
    """What the method did (empty for the original)."""


def measurement_records(records: list[Record], count: int) -> list[Record]:
    """``count`` test records, the split repeated when shorter: full batches of 32 even on a
    small test split."""
    repeats = math.ceil(count / len(records))
    return (records * repeats)[:count]


def _score(predictor: Predictor, records: list[Record], source: SourceRun) -> dict[str, Any]:
    # Scored as `tuneforge evaluate` scores a run (run/evaluation.py), on the same split.
    return predictor.score(records, source.config)


def measure_variant(
    name: str, run_dir: Path, source: SourceRun, options: CompressOptions, details: dict[str, Any]
) -> Variant:
    """Evaluate and time the model of ``run_dir`` on the source run's test split."""
    records = evaluation_records(source.run_dir)
    predictor = load_predictor(run_dir, batch_size=source.config.evaluation.batch_size)
    metrics = _score(predictor, records, source)
    threads = options.measure_threads or physical_cores()
    torch.set_num_threads(threads)
    if isinstance(predictor.model, OnnxTaskModel):
        predictor.model = OnnxTaskModel(predictor.model.path, threads)
    elif isinstance(predictor.model, OpenVinoTaskModel):
        predictor.model = predictor.model.with_threads(threads)
    timed = measurement_records(records, options.measure_examples)
    measurements = measure_predictor(predictor, run_dir / MODEL_DIR, timed, options.measure_repeats)
    return Variant(name, run_dir, metrics, measurements, details)


def measure_original(source: SourceRun, options: CompressOptions) -> Variant:
    """The uncompressed run, measured exactly like the compressed ones."""
    return measure_variant("original", source.run_dir, source, options, {})


def default_output_dir(run_dir: Path, method: str) -> Path:
    return run_dir.parent / f"{run_dir.name}-{method}"


def compress_run(
    run_dir: str | Path,
    method: str,
    options: CompressOptions | None = None,
    output_dir: str | Path | None = None,
    *,
    original: Variant | None = None,
    overwrite: bool = False,
) -> tuple[Variant, Variant]:
    """Compress a finished run with ``method`` into a new run folder and measure the trade-off.

    Args:
        run_dir: the finished source run.
        method: a registered method name (see ``available_methods()``).
        options: method settings (defaults when None).
        output_dir: the new run folder (default ``<runs>/<run>-<method>``).
        original: the source already measured in this process (a sweep measures it once).
        overwrite: replace an existing output folder.

    Returns:
        (original, compressed) variants.

    Raises:
        CompressionError: the method does not apply to the run's task or cannot run.
        RunError: the source is not a finished run, or the output folder exists.
    """
    options = options or CompressOptions()
    source = SourceRun.open(run_dir)
    chosen = get_method(method, source.task_type)
    output = Path(output_dir) if output_dir else default_output_dir(source.run_dir, method)
    if output.resolve() == source.run_dir.resolve():
        raise RunError(f"--output {output} is the source run itself; choose another folder.")
    if output.exists() and not overwrite:
        raise RunError(f"{output} already exists. Pass --overwrite to replace it.")
    staging = output.with_name(f".{output.name}.compress.tmp")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        copy_run_files(source.run_dir, staging)
        (staging / MODEL_DIR).mkdir()
        details = chosen.fn(source, staging / MODEL_DIR, options)
        # Measured after the method ran: a method that refuses costs no measuring time.
        original = original or measure_original(source, options)
        compressed = measure_variant(method, staging, source, options, details)
        _write_outputs(staging, output.name, source, method, options, original, compressed)
        if output.exists():
            shutil.rmtree(output)
        os.replace(staging, output)
    finally:
        # A failed method, evaluation or measurement leaves no half-written run folder behind.
        shutil.rmtree(staging, ignore_errors=True)
    return original, _moved(compressed, output)


def _moved(variant: Variant, run_dir: Path) -> Variant:
    return Variant(variant.name, run_dir, variant.metrics, variant.measurements, variant.details)


def copy_run_files(
    source_dir: Path, target: Path, names: tuple[str, ...] = _COPIED_FROM_SOURCE
) -> None:
    """Copy the files and folders ``names`` of a run into the new folder ``target``."""
    target.mkdir(parents=True)
    for name in names:
        path = source_dir / name
        if path.is_dir():
            shutil.copytree(path, target / name)
        elif path.is_file():
            shutil.copy2(path, target / name)


def headline(task_type: str, metrics: dict[str, Any]) -> tuple[str, float | None]:
    """The task's headline test metric (its default metric: macro-F1 for classification)."""
    from tuneforge.tasks import get_task

    name = get_task(task_type).default_metric
    value = metrics.get(name)
    return name, float(value) if isinstance(value, int | float) else None


def compression_summary(
    source: SourceRun, method: str, original: Variant, compressed: Variant
) -> dict[str, Any]:
    """Scalar facts of one compression (the registry's lineage keeps these) and the ratios."""
    metric, before = headline(source.task_type, original.metrics)
    _, after = headline(source.task_type, compressed.metrics)
    old, new = original.measurements, compressed.measurements
    return {
        "method": method,
        "source_run": str(source.run_dir.resolve()),
        "task": source.task_type,
        "metric": metric,
        "original_metric": before,
        "compressed_metric": after,
        "metric_change_points": None
        if before is None or after is None
        else round((after - before) * 100, 3),
        "original_size_bytes": old["size_bytes"],
        "size_bytes": new["size_bytes"],
        "size_ratio": new["size_bytes"] / old["size_bytes"] if old["size_bytes"] else None,
        "latency_ratio": new["latency_p50_ms"] / old["latency_p50_ms"],
        "throughput_ratio": new["throughput_per_s"] / old["throughput_per_s"],
    }


def _write_outputs(
    staging: Path,
    name: str,
    source: SourceRun,
    method: str,
    options: CompressOptions,
    original: Variant,
    compressed: Variant,
) -> None:
    summary = compression_summary(source, method, original, compressed)
    report = {
        **summary,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "options": options.model_dump(mode="json"),
        "details": compressed.details,
        # The run the ratios are against: the source, or the first run of a chain (a sweep's
        # "distill+onnx-int8-dynamic" quantizes the student and compares with the teacher).
        "original_run": str(original.run_dir.resolve()),
        "original": {"metrics": _scalars(original.metrics), **original.measurements},
        "compressed": {"metrics": _scalars(compressed.metrics), **compressed.measurements},
    }
    write_json_atomic(report, staging / COMPRESSION_FILE)
    write_json_atomic(
        {"test": compressed.metrics, "compression": summary},
        staging / layout.METRICS_FILE,
    )
    write_compressed_model_card(staging, name, source, report, [original, compressed])


def _scalars(metrics: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value
        for key, value in metrics.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }
