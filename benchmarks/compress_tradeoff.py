"""Compression trade-off on a real fine-tuned BBC News run, against transformers.pipeline.

    python -m benchmarks.compress_tradeoff [--run /tmp/acc/runs20/bbc_news] [--quick]
        [--skip-training] [--methods onnx-int8-dynamic,distill] [--threads N]

Copies the run (the source stays untouched), sweeps the compression methods over the copy with
`tuneforge.compress.sweep_run` (each compressed model evaluated on the run's test split and timed
against the original in this process), then times `transformers.pipeline("text-classification")`
fp32 at batch 32 on the same texts in the same process. Prints ratios and checks issue 5's
targets; JSON goes to benchmarks/results/compress_tradeoff.json (_quick with --quick).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import _harness

DEFAULT_RUN = Path("/tmp/acc/runs20/bbc_news")
# Issue 5's targets: (method, metric change floor in points, size ratio ceiling, speed-up floor,
# what the speed-up is measured against).
TARGETS = (
    ("onnx-int8-dynamic", -0.5, 0.30, 3.0, "pipeline"),
    ("distill", -1.5, None, 1.8, "original"),
)
_COPIED = ("config.yaml", "splits", "data_report.json", "quarantine.jsonl", "metrics.json", "model")


def copy_run(run_dir: Path, work_dir: Path) -> Path:
    """A copy of the run without checkpoints: the sweep writes its report into the run."""
    from tuneforge.compress.run import copy_run_files

    target = work_dir / run_dir.name
    copy_run_files(run_dir, target, _COPIED)
    return target


def pipeline_throughput(
    model_dir: Path, texts: list[str], repeats: int, max_length: int, threads: int
) -> float:
    """transformers.pipeline fp32 texts/s at batch 32, timed like the compressed models."""
    import torch
    from transformers import pipeline

    from tuneforge.compress.measure import median_seconds

    torch.set_num_threads(threads)
    classifier = pipeline("text-classification", model=str(model_dir), device=-1)

    def run_all() -> None:
        with torch.inference_mode():
            classifier(texts, batch_size=32, truncation=True, max_length=max_length)

    return len(texts) / median_seconds(run_all, repeats)


def check_targets(rows: list[dict[str, Any]], pipeline_per_s: float) -> list[dict[str, Any]]:
    """Each target of issue 5 with the measured values and whether it is met."""
    by_method = {row["method"]: row for row in rows}
    checks = []
    for method, floor, size_ceiling, speedup_floor, versus in TARGETS:
        row = by_method.get(method)
        if row is None:
            checks.append({"method": method, "measured": False})
            continue
        base = pipeline_per_s if versus == "pipeline" else by_method["original"]["throughput_per_s"]
        speedup = row["throughput_per_s"] / base
        met = row["change_points"] is not None and row["change_points"] >= floor
        met = met and speedup >= speedup_floor
        if size_ceiling is not None:
            met = met and row["size_ratio"] <= size_ceiling
        checks.append(
            {
                "method": method,
                "measured": True,
                "change_points": row["change_points"],
                "change_floor_points": floor,
                "size_ratio": row["size_ratio"],
                "size_ceiling": size_ceiling,
                f"speedup_vs_{versus}": speedup,
                "speedup_floor": speedup_floor,
                "met": met,
            }
        )
    return checks


def report(rows: list[dict[str, Any]], pipeline_per_s: float, checks: list[dict]) -> str:
    columns = [
        "method",
        rows[0]["metric"],
        "change (points)",
        "size MB",
        "size vs original",
        "p50 ms (batch 1)",
        "texts/s (batch 32)",
        "× original",
        "× pipeline fp32",
    ]
    table = [
        [
            row["method"],
            row["value"],
            row["change_points"],
            row["size_mb"],
            row["size_ratio"],
            row["latency_p50_ms"],
            row["throughput_per_s"],
            row["speedup"],
            row["throughput_per_s"] / pipeline_per_s,
        ]
        for row in rows
    ]
    table.append(["transformers.pipeline fp32", "", "", "", "", "", pipeline_per_s, "", 1.0])
    lines = [_harness.markdown_table(columns, table), ""]
    for check in checks:
        if not check["measured"]:
            lines.append(f"- target {check['method']}: not measured")
            continue
        speedup = next(value for key, value in check.items() if key.startswith("speedup_vs"))
        lines.append(
            f"- target {check['method']}: {'MET' if check['met'] else 'NOT MET'} "
            f"(change {check['change_points']:+.2f} >= {check['change_floor_points']}, "
            f"size {check['size_ratio']:.0%}"
            + (f" <= {check['size_ceiling']:.0%}" if check["size_ceiling"] else "")
            + f", speed-up {speedup:.2f}x >= {check['speedup_floor']}x)"
        )
    return "\n".join(lines)


def main() -> None:
    from tuneforge.compress.methods import CompressOptions, evaluation_records
    from tuneforge.compress.run import measurement_records
    from tuneforge.compress.sweep import sweep_methods, sweep_run
    from tuneforge.inference import physical_cores
    from tuneforge.predict import read_task_file

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=DEFAULT_RUN, help="a finished BBC News run")
    parser.add_argument(
        "--quick", action="store_true", help="fewer timed texts and repeats; short training"
    )
    parser.add_argument(
        "--skip-training", action="store_true", help="leave out pruning and distillation"
    )
    parser.add_argument("--methods", default=None, help="comma-separated subset of methods")
    parser.add_argument("--threads", type=int, default=None, help="default: physical cores")
    parser.add_argument("--keep", type=Path, default=None, help="keep the compressed runs here")
    args = parser.parse_args()

    threads = args.threads or physical_cores()
    options = CompressOptions(
        measure_examples=64 if args.quick else 256,
        measure_repeats=3 if args.quick else 5,
        measure_threads=threads,
        calibration_size=64 if args.quick else 128,
        # --quick only checks that the training methods run end to end: their quality needs
        # the full budgets.
        **({"recovery_epochs": 0.1, "distill_epochs": 0.2} if args.quick else {}),
    )
    work_dir = args.keep or Path(tempfile.mkdtemp(prefix="compress_tradeoff_"))
    try:
        run_copy = copy_run(args.run, work_dir)
        task_type = read_task_file(run_copy / "model")["task"]
        methods = (
            args.methods.split(",")
            if args.methods
            else sweep_methods(task_type, skip_training=args.skip_training)
        )
        started = time.perf_counter()
        sweep = sweep_run(run_copy, options, methods, output_root=work_dir, show_progress=True)
        sweep_seconds = time.perf_counter() - started
        texts = [
            record.text
            for record in measurement_records(
                evaluation_records(run_copy), options.measure_examples
            )
        ]
        max_length = read_task_file(run_copy / "model")["max_seq_length"]
        pipeline_per_s = pipeline_throughput(
            run_copy / "model", texts, options.measure_repeats, max_length, threads
        )
    finally:
        if args.keep is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    rows = sweep["rows"]
    checks = check_targets(rows, pipeline_per_s)
    print(report(rows, pipeline_per_s, checks))
    for name, reason in sweep["failed"].items():
        print(f"- {name} not applied: {reason}", file=sys.stderr)
    path = _harness.write_results(
        "compress_tradeoff_quick" if args.quick else "compress_tradeoff",
        {
            "run": str(args.run),
            "machine": {**_harness.machine_info(), "threads": threads},
            "options": sweep["options"],
            "sweep_seconds": sweep_seconds,
            "pipeline_fp32_batch32_per_s": pipeline_per_s,
            "rows": [
                {**row, "x_pipeline": row["throughput_per_s"] / pipeline_per_s} for row in rows
            ],
            "targets": checks,
            "failed": sweep["failed"],
            "details": sweep["details"],
        },
    )
    print(f"results: {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
