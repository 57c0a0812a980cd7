"""Does class weighting stop the starter config collapsing to the majority class?

    python -m benchmarks.class_weighting [--seeds 42 43 44] [--settings none balanced auto]
        [--extra-set training.epochs=1] [--out benchmarks/results/class_weighting.json]

Builds the 600-row 65/25/10% review set (benchmarks/imbalanced_reviews.py), writes a run config
from the starter template (`tuneforge init`'s classification.yaml, every value kept but the data
source and the split), and runs `tuneforge train` once per training seed x class weighting in a
fresh child process (one at a time: runs share the CPU). The data split is seeded apart from
training (data.split.seed = 42 for every run), so all runs see the same train/validation/test rows.

Split: test_ratio 0.2 and validation_ratio 0.1 (420 / 60 / 120 rows). The starter's test_ratio
0.1 would leave 6 negative test rows, where one prediction moves macro-F1 by ~0.05; 0.2 gives 12.

Reference points on the same split, computed here: the majority class (macro-F1 of predicting
"positive" for all rows, 0.26 at 65%) and TF-IDF + logistic regression fitted on the train
split (as benchmarks/tfidf_baseline.py, plain and with balanced class weights). The split is
reproduced with tuneforge's own prepare_dataset from the same config and overrides, and checked
against the test split each run writes (`<run>/splits/test.jsonl`; the train split is not saved).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from benchmarks import _harness
from benchmarks.imbalanced_reviews import build_imbalanced_reviews

SETTINGS = ("none", "balanced", "auto")
SPLIT = {"seed": 42, "test_ratio": 0.2, "validation_ratio": 0.1}
LABELS = ("negative", "neutral", "positive")


def write_run_config(data_path: Path, config_path: Path) -> Path:
    """The starter classification config with this set as data and the benchmark's split."""
    from tuneforge.templates import starter_config_text

    config = yaml.safe_load(starter_config_text("classification"))
    config["data"]["source"] = str(data_path.resolve())
    config["data"]["split"].update(SPLIT)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return config_path


def weighting_overrides(setting: str) -> list[str]:
    """The --set for a setting; none is also the default of a tuneforge without the option."""
    from tuneforge.config import TrainingConfig

    if "class_weighting" in TrainingConfig.model_fields:
        return [f"training.class_weighting={setting}"]
    if setting == "none":
        return []
    raise SystemExit(f"this tuneforge has no training.class_weighting: cannot run {setting!r}")


def train_command() -> list[str]:
    entry_point = Path(sys.executable).with_name("tuneforge")
    return [str(entry_point)] if entry_point.is_file() else [sys.executable, "-m", "tuneforge"]


def train_once(config_path: Path, overrides: list[str], run_dir: Path) -> dict[str, Any]:
    """Run `tuneforge train` in a child process; its metrics.json and wall time."""
    command = [*train_command(), "train", str(config_path)]
    for override in overrides:
        command += ["--set", override]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    run_dir.parent.mkdir(parents=True, exist_ok=True)
    log_path = run_dir.with_suffix(".log")
    started = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        returncode = subprocess.run(
            command, stdout=log, stderr=subprocess.STDOUT, env=env
        ).returncode
    seconds = time.perf_counter() - started
    if returncode != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(command)} exited {returncode}:\n{tail}")
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    return {"wall_seconds": seconds, "command": command, "metrics": metrics}


def reference_scores(config_path: Path, overrides: list[str]) -> dict[str, Any]:
    """Majority class and TF-IDF + logistic regression on the split a run with these overrides
    trains on (tuneforge's own cleaning and split, not a re-implementation)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, f1_score
    from sklearn.pipeline import make_pipeline

    from tuneforge.config import load_config
    from tuneforge.data import prepare_dataset

    splits = prepare_dataset(load_config(config_path, overrides))
    train_texts, train_labels = [r.text for r in splits.train], [r.label for r in splits.train]
    truth = [r.label for r in splits.test]

    def scores(predicted: list[str]) -> dict[str, float]:
        return {
            "macro_f1": float(
                f1_score(truth, predicted, average="macro", labels=list(LABELS), zero_division=0)
            ),
            "accuracy": float(accuracy_score(truth, predicted)),
        }

    majority = max(set(train_labels), key=train_labels.count)
    result = {"majority": {"label": majority, **scores([majority] * len(truth))}}
    for name, class_weight in (("tfidf_logreg", None), ("tfidf_logreg_balanced", "balanced")):
        model = make_pipeline(
            TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2),
            LogisticRegression(C=10.0, max_iter=2000, class_weight=class_weight),
        )
        model.fit(train_texts, train_labels)
        result[name] = scores(list(model.predict([r.text for r in splits.test])))
    sizes = {name: len(getattr(splits, name)) for name in ("train", "validation", "test")}
    return {
        "split_sizes": sizes,
        "quarantined": len(splits.quarantined),
        "scores": result,
        "test_texts": sorted(r.text for r in splits.test),
    }


def run_test_texts(run_dir: Path) -> list[str]:
    lines = (run_dir / "splits" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    return sorted(json.loads(line)["text"] for line in lines if line.strip())


def lscpu_model_name() -> str | None:
    try:
        output = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    names = [line.split(":", 1)[1].strip() for line in output.splitlines() if "Model name" in line]
    return names[0] if names else None


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Mean and sample standard deviation of test macro-F1 and accuracy per setting."""
    summary: dict[str, dict[str, Any]] = {}
    for setting in dict.fromkeys(run["setting"] for run in runs):
        rows = [run for run in runs if run["setting"] == setting]
        summary[setting] = {"runs": len(rows)}
        for key in ("macro_f1", "accuracy"):
            values = [row[key] for row in rows]
            summary[setting][f"{key}_mean"] = statistics.fmean(values)
            summary[setting][f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else None
    return summary


def run_record(result: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """What the results keep of one run: test scores, per-class F1, predictions per class."""
    metrics = result["metrics"]
    test = metrics["test"]
    matrix = test.get("confusion_matrix", {})
    predicted = [sum(column) for column in zip(*matrix.get("matrix", []), strict=True)]
    return {
        "overrides": overrides,
        "macro_f1": test["macro_f1"],
        "accuracy": test["accuracy"],
        "f1_per_class": {name: scores["f1"] for name, scores in test.get("per_class", {}).items()},
        "predicted_per_class": dict(zip(matrix.get("labels", []), predicted, strict=True)),
        "wall_seconds": result["wall_seconds"],
        "training_steps": metrics.get("training", {}).get("steps"),
        # Baselines the run itself reports (a newer tuneforge); None where it has none.
        "run_baselines": metrics.get("baselines"),
    }


def print_tables(
    runs: list[dict[str, Any]], summary: dict[str, dict[str, Any]], reference: dict[str, Any]
) -> None:
    """One row per run, then mean ± sample std per setting beside the reference scores."""
    columns = ["setting", "seed", "test macro-F1", "accuracy", *[f"F1 {c}" for c in LABELS], "s"]
    rows = [
        [run["setting"], run["seed"], run["macro_f1"], run["accuracy"]]
        + [run["f1_per_class"].get(label, float("nan")) for label in LABELS]
        + [run["wall_seconds"]]
        for run in runs
    ]
    print(_harness.markdown_table(columns, rows) + "\n")

    def spread(stats: dict[str, Any], key: str) -> str:
        mean, std = stats[f"{key}_mean"], stats[f"{key}_std"]
        return f"{mean:.3f}" if std is None else f"{mean:.3f} ± {std:.3f}"

    rows = [
        [name, s["runs"], spread(s, "macro_f1"), spread(s, "accuracy")]
        for name, s in summary.items()
    ]
    rows += [
        [f"reference: {name}", "-", s["macro_f1"], s["accuracy"]] for name, s in reference.items()
    ]
    print(_harness.markdown_table(["setting", "runs", "test macro-F1", "accuracy"], rows))


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.class_weighting")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    parser.add_argument("--settings", nargs="+", choices=SETTINGS, default=list(SETTINGS))
    parser.add_argument(
        "--extra-set",
        nargs="+",
        action="extend",
        default=[],
        metavar="KEY=VALUE",
        help="more `tuneforge train --set` overrides, passed to every run",
    )
    parser.add_argument("--out", type=Path, default=_harness.RESULTS_DIR / "class_weighting.json")
    parser.add_argument("--work-dir", type=Path, help="keep the data, config and runs here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = _parse_args(argv)
    # Before any work: a setting this tuneforge cannot run fails here, not after the first run.
    weightings = {setting: weighting_overrides(setting) for setting in args.settings}
    work_dir = args.work_dir or Path(tempfile.mkdtemp(prefix="tuneforge-class-weighting-"))
    work_dir.mkdir(parents=True, exist_ok=True)
    data_path = build_imbalanced_reviews(work_dir / "imbalanced_reviews.csv")
    config_path = write_run_config(data_path, work_dir / "imbalanced_reviews.yaml")
    reference = reference_scores(config_path, args.extra_set)
    print(f"split {reference['split_sizes']}, quarantined {reference['quarantined']}")

    runs = []
    try:
        for seed in args.seeds:
            for setting in args.settings:
                name = f"{setting}-seed{seed}"
                overrides = [
                    *weightings[setting],
                    *args.extra_set,
                    f"training.seed={seed}",
                    f"output.dir={work_dir / 'runs'}",
                    f"output.run_name={name}",
                ]
                print(f"training {name} ...", flush=True)
                result = train_once(config_path, overrides, work_dir / "runs" / name)
                if run_test_texts(work_dir / "runs" / name) != reference["test_texts"]:
                    raise RuntimeError(f"{name}: the run's test split differs from the reference")
                runs.append({"setting": setting, "seed": seed, **run_record(result, overrides)})
                print(f"  macro-F1 {runs[-1]['macro_f1']:.3f}  {result['wall_seconds']:.0f} s")
    finally:
        if args.work_dir is None:
            shutil.rmtree(work_dir, ignore_errors=True)

    summary = summarise(runs)
    print_tables(runs, summary, reference["scores"])
    payload = {
        "data": {
            "rows": sum(reference["split_sizes"].values()),
            "split": SPLIT,
            "split_sizes": reference["split_sizes"],
            "extra_set": args.extra_set,
        },
        "cpu_model_lscpu": lscpu_model_name(),
        "machine": _harness.machine_info(),
        "reference": reference["scores"],
        "runs": runs,
        "summary": summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"results written to {args.out}")


if __name__ == "__main__":
    main()
