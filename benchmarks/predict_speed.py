"""Prediction speed: tuneforge's predictor vs transformers.pipeline on the same fine-tuned model.

    python -m benchmarks.predict_speed [--run runs/quickstart] [--quick]

Both load the same run's `model/` folder and predict the BBC News test split (truncated to the
run's max_seq_length): throughput at batch 1 and 32, p50/p99 latency at batch 1, peak RSS, and
the share of texts on which both predict the same label. Without --run, a small model is first
fine-tuned with tuneforge (one epoch on a subset). It also prints this CPU's ceilings: the most
texts/s the encoder's weight GEMMs allow in fp32, bf16 and int8, as multiples of the pipeline.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks import _harness

CONTENDERS = ("tuneforge", "hf_pipeline")
DEFAULT_RUN = _harness.RESULTS_DIR / "predict_speed_run"


def _texts(quick: bool) -> list[str]:
    _, test = _harness.bbc_news_split(None)
    texts = [record.text for record in test]
    return texts[:64] if quick else texts


def _measure(predict_batch: Any, texts: list[str], batch_1_count: int) -> dict[str, Any]:
    for text in texts[:4]:
        predict_batch([text])  # warm-up: lazy initialisation, kernel selection
    latencies = []
    for text in texts[:batch_1_count]:
        started = time.perf_counter()
        predict_batch([text])
        latencies.append(time.perf_counter() - started)
    labels: list[str] = []
    started = time.perf_counter()
    for start in range(0, len(texts), 32):
        labels.extend(predict_batch(texts[start : start + 32]))
    batch_32_seconds = time.perf_counter() - started
    ordered = sorted(latencies)
    return {
        "batch_1_samples_per_second": len(latencies) / sum(latencies),
        "batch_1_p50_ms": 1000 * statistics.median(ordered),
        "batch_1_p99_ms": 1000 * ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))],
        "batch_32_samples_per_second": len(texts) / batch_32_seconds,
        "labels": labels,
    }


def run_tuneforge(run_dir: Path, quick: bool) -> dict[str, Any]:
    from tuneforge.predict import load_predictor

    predictor = load_predictor(run_dir, batch_size=32)
    predict = lambda batch: [p["label"] for p in predictor.predict(batch)]  # noqa: E731
    return {
        "contender": "tuneforge",
        "precision": predictor.precision,
        **_measure(predict, _texts(quick), 32 if quick else 100),
    }


def run_pipeline(run_dir: Path, quick: bool) -> dict[str, Any]:
    import torch
    from transformers import pipeline

    from tuneforge.run.info import read_run_info

    max_length = read_run_info(run_dir / "model").max_seq_length
    classifier = pipeline("text-classification", model=str(run_dir / "model"), device=-1)

    def predict(batch: list[str]) -> list[str]:
        with torch.inference_mode():
            outputs = classifier(
                batch, batch_size=len(batch), truncation=True, max_length=max_length
            )
        return [output["label"] for output in outputs]

    return {
        "contender": "hf_pipeline",
        "precision": "fp32",
        **_measure(predict, _texts(quick), 32 if quick else 100),
    }


def ensure_run(run_dir: Path) -> Path:
    """A fine-tuned BBC News run to measure; trained once (1 epoch, subset) when missing."""
    from tuneforge.config import config_from_dict
    from tuneforge.pipeline import run
    from tuneforge.run.layout import is_finished

    if is_finished(run_dir):
        return run_dir
    config = config_from_dict(
        {
            "data": {"source": "builtin:bbc-news", "max_examples": 600},
            "model": {"max_seq_length": 128},
            "training": {"epochs": 1, "batch_size": 16, "learning_rate": 1e-4},
            "output": {"dir": str(run_dir.parent), "run_name": run_dir.name},
        },
        source="benchmark",
    )
    return run(config, overwrite=True, show_progress=False).run_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=None, help="a finished classification run")
    parser.add_argument("--quick", action="store_true", help="64 texts, 32 batch-1 calls")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=CONTENDERS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        from tuneforge._process import run_settings

        worker = run_tuneforge if args.worker == "tuneforge" else run_pipeline
        # Every contender gets the threads and tokenizer settings a tuneforge run sets.
        with run_settings(None):
            sys.stdout.write(json.dumps(worker(args.run, args.quick)) + "\n")
        return
    run_dir = args.run or ensure_run(DEFAULT_RUN)
    rows = []
    for repeat in range(args.repeats):
        for contender in CONTENDERS:
            extra = ["--quick"] if args.quick else []
            row = _harness.run_child(
                "benchmarks.predict_speed", ["--worker", contender, "--run", str(run_dir), *extra]
            )
            print(
                f"repeat {repeat + 1}: {contender}: batch 32 "
                f"{row['batch_32_samples_per_second']:.1f} samples/s",
                file=sys.stderr,
            )
            rows.append(row)
    agreement = _agreement(rows)
    for row in rows:
        row.pop("labels")
    medians = _harness.median_by_contender(rows)
    print(report(medians, agreement, args))
    ceilings = _ceilings(run_dir, args.quick)
    pipeline_per_s = medians["hf_pipeline"]["batch_32_samples_per_second"]
    print("\n" + _harness.ceiling_lines(ceilings, pipeline_per_s, "pipeline (batch 32)"))
    _harness.write_results(
        "predict_speed_quick" if args.quick else "predict_speed",
        {
            "run": str(run_dir),
            "machine": _harness.machine_info(),
            "medians": medians,
            "label_agreement": agreement,
            "hardware_ceilings": ceilings,
            "runs": rows,
        },
    )


def _ceilings(run_dir: Path, quick: bool) -> dict[str, float]:
    """How fast any runtime could go on this CPU (see _harness.inference_ceilings): a
    prediction target above the ceiling's multiple of the pipeline is out of reach here."""
    from tuneforge.inference import physical_cores
    from tuneforge.run.info import read_run_info

    max_length = read_run_info(run_dir / "model").max_seq_length
    return _harness.inference_ceilings(
        run_dir / "model", _texts(quick), max_length, physical_cores()
    )


def _agreement(rows: list[dict[str, Any]]) -> float:
    ours = next(row["labels"] for row in rows if row["contender"] == "tuneforge")
    theirs = next(row["labels"] for row in rows if row["contender"] == "hf_pipeline")
    return sum(a == b for a, b in zip(ours, theirs, strict=True)) / len(ours)


def report(medians: dict[str, dict[str, float]], agreement: float, args: Any) -> str:
    base = medians["hf_pipeline"]
    columns = [
        "contender",
        "batch 1 samples/s",
        "batch 32 samples/s",
        "× pipeline (batch 32)",
        "p50 ms",
        "p99 ms",
        "peak RSS MiB",
    ]
    rows = [
        [
            name,
            m["batch_1_samples_per_second"],
            m["batch_32_samples_per_second"],
            m["batch_32_samples_per_second"] / base["batch_32_samples_per_second"],
            m["batch_1_p50_ms"],
            m["batch_1_p99_ms"],
            m["peak_rss_mib"],
        ]
        for name, m in medians.items()
    ]
    header = (
        f"Prediction, BBC News test split, medians of {args.repeats}; "
        f"label agreement {100 * agreement:.1f}%\n\n"
    )
    return header + _harness.markdown_table(columns, rows)


if __name__ == "__main__":
    main()
