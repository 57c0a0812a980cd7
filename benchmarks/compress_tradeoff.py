"""Compression trade-off on a real fine-tuned BBC News run, against transformers.pipeline.

    python -m benchmarks.compress_tradeoff [--run /tmp/acc/runs20/bbc_news] [--quick]
        [--skip-training] [--methods onnx-int8-dynamic,distill] [--threads N]
        [--keep DIR [--reuse]] [--timing-rounds 3]

Copies the run (the source stays untouched), sweeps the compression methods over the copy with
`tuneforge.compress.sweep_run` (each compressed model evaluated on the run's test split), then
times every model and `transformers.pipeline("text-classification")` fp32 at batch 32 on the
same texts, each in a fresh child process, alternating, median of --timing-rounds (like the
other benchmarks; --timing-rounds 0 keeps the sweep's in-process timings). --reuse re-times
the runs an earlier --keep left, without compressing again. Prints ratios and checks issue 5's
targets, with the int8 speed-up this CPU's int8 GEMMs allow at most (a target above it cannot be
met here); JSON goes to benchmarks/results/compress_tradeoff.json (_quick with --quick).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import _harness

DEFAULT_RUN = Path("/tmp/acc/runs20/bbc_news")
# Issue 5's and issue 17's targets: (method, metric change floor in points, size ratio ceiling,
# speed-up floor, what the speed-up is measured against). Issue 17 sets no accuracy floor for
# the distilled student + int8; it gets distillation's.
TARGETS = (
    ("onnx-int8-dynamic", -0.5, 0.30, 3.0, "pipeline"),
    ("distill", -1.5, None, 1.8, "original"),
    ("openvino-int8", -0.5, None, 3.0, "pipeline"),
    ("distill+openvino-int8", -1.5, None, 5.0, "pipeline"),
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


def time_in_child(
    run_copy: Path, model_run: str, examples: int, repeats: int, threads: int
) -> dict:
    """The worker: throughput at batch 32 and p50 latency at batch 1 of one model (a compressed
    run folder, or "pipeline" for transformers.pipeline fp32) in this fresh process."""
    import torch

    from tuneforge.compress.measure import latency_p50_ms, throughput_per_second
    from tuneforge.compress.methods import evaluation_records
    from tuneforge.compress.run import measurement_records
    from tuneforge.inference import OnnxTaskModel
    from tuneforge.openvino_runtime import OpenVinoTaskModel
    from tuneforge.predict import load_predictor
    from tuneforge.run.info import read_run_info

    records = measurement_records(evaluation_records(run_copy), examples)
    torch.set_num_threads(threads)
    if model_run == "pipeline":
        max_length = read_run_info(run_copy / "model").max_seq_length
        texts = [record.text for record in records]
        per_s = pipeline_throughput(run_copy / "model", texts, repeats, max_length, threads)
        return {"throughput_per_s": per_s}
    predictor = load_predictor(model_run)
    if isinstance(predictor.model, OnnxTaskModel):  # the session with the measured thread count
        predictor.model = OnnxTaskModel(predictor.model.path, threads)
    elif isinstance(predictor.model, OpenVinoTaskModel):
        predictor.model = predictor.model.with_threads(threads)
    return {
        "throughput_per_s": throughput_per_second(predictor, records, repeats, 32),
        "latency_p50_ms": latency_p50_ms(predictor, records, repeats),
        # What the model computes in as served: the original's bf16 PyTorch predictor on a bf16
        # CPU, OpenVINO's recorded precision hint.
        "runs_as": f"{type(predictor.model).__name__} {predictor.precision}",
    }


def time_rows_in_children(
    rows: list[dict[str, Any]],
    run_copy: Path,
    rounds: int,
    examples: int,
    repeats: int,
    threads: int,
) -> float:
    """Re-time every row and the pipeline, each in a fresh child process, alternating, ``rounds``
    times; the rows get the medians (the sweep's in-process figures are kept as
    ``sweep_throughput_per_s``) and the pipeline's median is returned.

    The sweep times every model once, one after another in one long process. On a 2-core EPYC
    those single timings differed from the medians of three alternating child timings by -11%
    to +13% (onnx-int8-dynamic 59.0 vs 66.1 texts/s, distill 95.7 vs 84.4), while the three
    child timings of a model stayed within about 5% of each other.
    """
    import statistics

    targets = [row["run_dir"] for row in rows] + ["pipeline"]
    timings: dict[str, list[dict[str, Any]]] = {target: [] for target in targets}
    for round_index in range(rounds):
        for target in targets:
            result = _harness.run_child(
                "benchmarks.compress_tradeoff",
                [
                    "--time-worker",
                    target,
                    "--run",
                    str(run_copy),
                    "--threads",
                    str(threads),
                    "--time-examples",
                    str(examples),
                    "--time-repeats",
                    str(repeats),
                ],
            )
            timings[target].append(result)
            print(
                f"timing round {round_index + 1}: {Path(target).name}: "
                f"{result['throughput_per_s']:.1f} texts/s",
                file=sys.stderr,
            )

    def median(target: str, key: str) -> float:
        return statistics.median(result[key] for result in timings[target])

    for row in rows:
        row["sweep_throughput_per_s"] = row["throughput_per_s"]
        row["sweep_latency_p50_ms"] = row["latency_p50_ms"]
        row["throughput_per_s"] = median(row["run_dir"], "throughput_per_s")
        row["latency_p50_ms"] = median(row["run_dir"], "latency_p50_ms")
        row["peak_rss_mib"] = median(row["run_dir"], "peak_rss_mib")
        row["runs_as"] = timings[row["run_dir"]][0].get("runs_as", "")
    base = rows[0]["throughput_per_s"]
    for row in rows:
        row["speedup"] = row["throughput_per_s"] / base
    return median("pipeline", "throughput_per_s")


def check_targets(
    rows: list[dict[str, Any]], pipeline_per_s: float, ceilings: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """Each target of issue 5 with the measured values and whether it is met; the int8 target
    also says how far this CPU's int8 GEMMs alone could go (``ceilings``)."""
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
        if ceilings and method == "onnx-int8-dynamic":
            checks[-1]["ceiling_speedup"] = ceilings["int8_ceiling_per_s"] / pipeline_per_s
    return checks


def report(rows: list[dict[str, Any]], pipeline_per_s: float, checks: list[dict]) -> str:
    columns = [
        "method",
        "runs as",
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
            row.get("runs_as", ""),
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
    table.append(["transformers.pipeline fp32", "", "", "", "", "", "", pipeline_per_s, "", 1.0])
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
            + (
                f"; this CPU's int8 GEMMs allow at most {check['ceiling_speedup']:.2f}x"
                if "ceiling_speedup" in check
                else ""
            )
        )
    return "\n".join(lines)


def main() -> None:
    from tuneforge.compress.methods import CompressOptions, evaluation_records
    from tuneforge.compress.run import measurement_records
    from tuneforge.compress.sweep import REPORT_DIR, sweep_methods, sweep_run
    from tuneforge.inference import physical_cores
    from tuneforge.run.info import read_run_info

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
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the runs an earlier --keep left in that folder instead of compressing again",
    )
    parser.add_argument(
        "--timing-rounds",
        type=int,
        default=3,
        help="re-time every model in fresh child processes, alternating (0: the sweep's figures)",
    )
    parser.add_argument("--time-worker", help=argparse.SUPPRESS)
    parser.add_argument("--time-examples", type=int, default=128, help=argparse.SUPPRESS)
    parser.add_argument("--time-repeats", type=int, default=3, help=argparse.SUPPRESS)
    args = parser.parse_args()

    threads = args.threads or physical_cores()
    if args.time_worker:
        result = time_in_child(
            args.run, args.time_worker, args.time_examples, args.time_repeats, threads
        )
        print(json.dumps(result))
        return
    if args.reuse and args.keep is None:
        parser.error("--reuse needs --keep FOLDER: the folder an earlier run kept")
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
        if args.reuse:
            run_copy = work_dir / args.run.name
            sweep = json.loads((run_copy / REPORT_DIR / "tradeoff.json").read_text())
            sweep_seconds = None
        else:
            run_copy = copy_run(args.run, work_dir)
            task_type = read_run_info(run_copy / "model").task
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
        max_length = read_run_info(run_copy / "model").max_seq_length
        ceilings = _harness.inference_ceilings(run_copy / "model", texts, max_length, threads)
        rows = sweep["rows"]
        if args.timing_rounds > 0:
            timing = {"rounds": args.timing_rounds, "examples": args.time_examples}
            pipeline_per_s = time_rows_in_children(
                rows,
                run_copy,
                args.timing_rounds,
                args.time_examples,
                args.time_repeats,
                threads,
            )
        else:  # the sweep's own in-process figures, and the pipeline timed after them
            timing = {"rounds": 0, "examples": options.measure_examples}
            pipeline_per_s = pipeline_throughput(
                run_copy / "model", texts, options.measure_repeats, max_length, threads
            )
    finally:
        if args.keep is None:
            shutil.rmtree(work_dir, ignore_errors=True)
    checks = check_targets(rows, pipeline_per_s, ceilings)
    print(report(rows, pipeline_per_s, checks))
    print("\n" + _harness.ceiling_lines(ceilings, pipeline_per_s, "pipeline fp32"))
    for name, reason in sweep["failed"].items():
        print(f"- {name} not applied: {reason}", file=sys.stderr)
    path = _harness.write_results(
        "compress_tradeoff_quick" if args.quick else "compress_tradeoff",
        {
            "run": str(args.run),
            "machine": {**_harness.machine_info(), "threads": threads},
            "options": sweep["options"],
            "sweep_seconds": sweep_seconds,
            "timing": timing,
            "pipeline_fp32_batch32_per_s": pipeline_per_s,
            "hardware_ceilings": ceilings,
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
