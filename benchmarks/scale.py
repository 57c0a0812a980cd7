"""Search and data-parallel training, measured end to end through the real commands.

    python -m benchmarks.scale search [--dataset imbalanced|bbc] [--trials 20] [--compare-pruning]
        [--extra-set model.max_seq_length=64 ...]
    python -m benchmarks.scale ddp [--seeds 42 43 44] [--extra-set ...]

search: a TPE study (`tuneforge tune`, median pruning) over learning rate, batch size, epochs,
warmup and class weighting, against the starter config it starts from (trial 0 is the starter's
own values). Reports the starter's and the best trial's validation metric, and the test metric of
the best trial's run against the starter's run (`tuneforge train` of the same config). With
--compare-pruning the same study runs again with `pruner: none` and the wall times are compared.
Datasets: the 600-row 65/25/10 review set of benchmarks/imbalanced_reviews.py with the starter
classification config (split 420/60/120 as benchmarks/class_weighting.py), or BBC News with
configs/classification/bbc_news.yaml.

ddp: `tuneforge train --nproc 1` and `--nproc 2` of the same config for each seed: test
macro-F1, training samples/s overall and per process (metrics.json's training section, from the
loop's own clock, evaluations excluded), wall time. The global batch is kept: each of the 2
ranks takes batch_size / 2, so both runs take the same optimizer steps over the same number of
examples per step (2 ranks x batch_size would halve the steps; on the small review set that
left the model at the majority class).

Each command runs in a child process, one at a time (they share the CPU).
"""

from __future__ import annotations

import argparse
import json
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
from benchmarks.class_weighting import train_command, write_run_config
from benchmarks.imbalanced_reviews import build_imbalanced_reviews

REPO = Path(__file__).resolve().parents[1]
SPACE = {
    "training.learning_rate": {"type": "loguniform", "low": 1e-5, "high": 5e-4},
    "training.batch_size": {"type": "categorical", "choices": [8, 16, 32]},
    "training.epochs": {"type": "int", "low": 2, "high": 5},
    "training.warmup_ratio": {"type": "uniform", "low": 0.0, "high": 0.2},
    "training.class_weighting": {"type": "categorical", "choices": ["none", "balanced"]},
}


def base_config(dataset: str, folder: Path) -> Path:
    """The config a user starts from: the starter template on the imbalanced set, or the BBC
    News example config."""
    if dataset == "bbc":
        raw = yaml.safe_load((REPO / "configs/classification/bbc_news.yaml").read_text())
        path = folder / "bbc.yaml"
        path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
        return path
    data = build_imbalanced_reviews(folder / "imbalanced_reviews.csv")
    return write_run_config(data, folder / "imbalanced.yaml")


def with_search(config_path: Path, trials: int, pruner: str, out: Path) -> Path:
    raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    raw["search"] = {"space": SPACE, "trials": trials, "pruner": pruner, "seed": 0}
    raw["training"]["eval_every_steps"] = None  # evaluate (and report to the pruner) per epoch
    out.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return out


def run_command(args: list[str], log_path: Path) -> float:
    """Run `tuneforge <args>`; its wall seconds. Raises with the log's tail on failure."""
    command = [*train_command(), *args]
    started = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        code = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    if code != 0:
        tail = log_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        raise RuntimeError(f"{' '.join(command)} exited {code}:\n{tail}")
    return time.perf_counter() - started


def overrides(extra: list[str]) -> list[str]:
    return [item for value in extra for item in ("--set", value)]


def search(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    config = base_config(args.dataset, folder)
    starter_wall = run_command(
        ["train", str(config), "--set", f"output.dir={folder}", *overrides(args.extra_set)],
        folder / "starter.log",
    )
    starter = json.loads((folder / config.stem / "metrics.json").read_text())
    studies = {}
    for pruner in ["median", "none"] if args.compare_pruning else ["median"]:
        study_config = with_search(config, args.trials, pruner, folder / f"search-{pruner}.yaml")
        study_dir = folder / f"study-{pruner}"
        wall = run_command(
            ["tune", str(study_config), "--output", str(study_dir), *overrides(args.extra_set)],
            folder / f"study-{pruner}.log",
        )
        summary = json.loads((study_dir / "summary.json").read_text())
        studies[pruner] = {
            "wall_seconds": wall,
            "counts": summary["counts"],
            "pruning": summary["pruning"],
            "base_validation": summary["base_trial"]["value"] if summary["base_trial"] else None,
            "best_validation": summary["best"]["value"],
            "best_params": summary["best"]["params"],
            "best_test": summary["best"]["test"],
        }
    metric = "macro_f1"
    rows = [
        [
            "starter config",
            starter["validation"][metric],
            starter["test"][metric],
            starter_wall,
        ]
    ]
    for pruner, study in studies.items():
        rows.append(
            [
                f"best of {args.trials} trials (pruner {pruner})",
                study["best_validation"],
                study["best_test"][metric],
                study["wall_seconds"],
            ]
        )
    table = _harness.markdown_table(
        ["config", f"validation {metric}", f"test {metric}", "wall seconds"], rows
    )
    return {"dataset": args.dataset, "starter": starter, "studies": studies, "table": table}


def ddp(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    config = base_config(args.dataset, folder)
    batch_size = yaml.safe_load(config.read_text(encoding="utf-8"))["training"]["batch_size"]
    rows, runs = [], []
    for seed in args.seeds:
        for nproc in (1, 2):
            name = f"seed{seed}-nproc{nproc}"
            wall = run_command(
                [
                    "train",
                    str(config),
                    "--nproc",
                    str(nproc),
                    "--set",
                    f"output.dir={folder}",
                    "--set",
                    f"output.run_name={name}",
                    "--set",
                    f"training.seed={seed}",
                    "--set",
                    f"training.batch_size={max(1, batch_size // nproc)}",
                    *overrides(args.extra_set),
                ],
                folder / f"{name}.log",
            )
            metrics = json.loads((folder / name / "metrics.json").read_text())
            training = metrics["training"]
            runs.append({"seed": seed, "nproc": nproc, "wall_seconds": wall, "metrics": metrics})
            rows.append(
                [
                    seed,
                    nproc,
                    metrics["test"]["macro_f1"],
                    training["samples_per_second"],
                    training["samples_per_second"] / nproc,
                    training["steps"],
                    wall,
                ]
            )
    summary = []
    for nproc in (1, 2):
        scores = [r[2] for r in rows if r[1] == nproc]
        speeds = [r[3] for r in rows if r[1] == nproc]
        summary.append(
            [
                f"{nproc} process(es)",
                statistics.mean(scores),
                statistics.stdev(scores) if len(scores) > 1 else 0.0,
                statistics.median(speeds),
            ]
        )
    table = _harness.markdown_table(
        ["seed", "processes", "test macro-F1", "samples/s", "per process", "steps", "wall s"],
        rows,
    )
    table += "\n\n" + _harness.markdown_table(
        ["", "mean test macro-F1", "std", "median samples/s"], summary
    )
    return {"dataset": args.dataset, "runs": runs, "table": table}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("search", "ddp"):
        command = commands.add_parser(name)
        command.add_argument("--dataset", choices=["imbalanced", "bbc"], default="imbalanced")
        command.add_argument("--extra-set", nargs="*", default=[], help="config overrides")
        command.add_argument("--keep", type=Path, default=None, help="keep the runs here")
    commands.choices["search"].add_argument("--trials", type=int, default=20)
    commands.choices["search"].add_argument("--compare-pruning", action="store_true")
    commands.choices["ddp"].add_argument("--seeds", type=int, nargs="+", default=[42, 43, 44])
    args = parser.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="tuneforge-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    try:
        result = (search if args.command == "search" else ddp)(args, folder)
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)
    result.update(args=sys.argv[1:], machine=_harness.machine_info())
    path = _harness.write_results(f"scale_{args.command}_{args.dataset}", result)
    print(result["table"])
    print(f"results: {path}")


if __name__ == "__main__":
    main()
