"""Federated vs centralised fine-tuning (issue 16): 5 sites, LoRA, 10 rounds, on BBC News or on
the Rotten Tomatoes sentences (benchmarks/rt_sentences.py, binarised by the sign of the rating).

    python -m benchmarks.federated [--dataset bbc|rt] [--max-examples 2225] [--rounds 10]
        [--budget-seconds 3000]

Contenders, all on the same split, seed and total training data, scored on the test split:
centralised training (epochs = rounds x local epochs), federated IID, Dirichlet label skew at
alpha 0.5 and 0.1 (with the worst site's validation accuracy), and federated IID with client
DP at epsilon 8. Wall time per round is Flower's (Ray simulation on this machine, the sites
trained one after another). Contenders past --budget-seconds are skipped and listed as such,
so a run on a shared machine stays time-bounded.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import _harness

RT_DEFAULT_ROWS = 2000


def data_section(args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    """BBC News (a stratified sample of --max-examples), or a CSV of --max-examples Rotten
    Tomatoes sentences, half of each sign (default RT_DEFAULT_ROWS), written once into `folder`."""
    if args.dataset == "bbc":
        return {"source": "builtin:bbc-news", "max_examples": args.max_examples}
    from benchmarks.rt_sentences import build_rt_sentences

    path = folder / "rt_sentences.csv"
    if not path.is_file():
        build_rt_sentences(path, rows=args.max_examples or RT_DEFAULT_ROWS, seed=0)
    return {"source": str(path)}


def base_config(args: argparse.Namespace, output: Path) -> dict[str, Any]:
    return {
        "data": data_section(args, output),
        "model": {"max_seq_length": args.max_seq_length, "num_hidden_layers": args.layers},
        "task": {"type": "classification"},
        "adaptation": {"method": "lora", "lora_rank": 8},
        "training": {
            "batch_size": args.batch_size,
            "learning_rate": args.learning_rate,
            "warmup_ratio": 0.0,
            "precision": "fp32",
            "num_threads": args.threads,
        },
        "output": {"dir": str(output)},
        "federated": {
            "sites": args.sites,
            "rounds": args.rounds,
            "local_epochs": args.local_epochs,
        },
    }


def contenders(args: argparse.Namespace) -> list[tuple[str, dict[str, Any] | None]]:
    """(name, federated overrides); None: centralised."""
    return [
        ("centralised", None),
        ("federated IID", {"partition": "iid"}),
        ("federated Dirichlet 0.5", {"partition": "dirichlet", "alpha": 0.5}),
        ("federated Dirichlet 0.1", {"partition": "dirichlet", "alpha": 0.1}),
        (
            "federated IID, client DP eps 8",
            {
                "partition": "iid",
                "privacy": {"target_epsilon": 8.0, "clipping_norm": 1.0, "delta": 1e-3},
            },
        ),
    ]


def run_contender(
    name: str, federated: dict[str, Any] | None, args: argparse.Namespace, output: Path
) -> dict[str, Any]:
    from tuneforge.config import config_from_dict
    from tuneforge.federated import federate
    from tuneforge.pipeline import run

    raw = base_config(args, output)
    raw["output"]["run_name"] = name.replace(" ", "-").replace(",", "")
    started = time.perf_counter()
    if federated is None:
        raw["training"]["epochs"] = args.rounds * raw["federated"]["local_epochs"]
        result = run(config_from_dict(raw, source="benchmark"), show_progress=False)
        return {
            "contender": name,
            "seconds": time.perf_counter() - started,
            "test_accuracy": result.metrics["accuracy"],
            "test_macro_f1": result.metrics["macro_f1"],
        }
    raw["federated"].update(federated)
    result = federate(config_from_dict(raw, source="benchmark"), show_progress=False)
    rounds = result.report["rounds"]
    per_round = [row["seconds"] for row in rounds if row.get("seconds") is not None]
    last = rounds[-1]
    worst = min(
        (values["accuracy"] for values in last["sites"].values() if "accuracy" in values),
        default=None,
    )
    return {
        "contender": name,
        "seconds": time.perf_counter() - started,
        "seconds_per_round": statistics.median(per_round) if per_round else None,
        "test_accuracy": result.metrics["accuracy"],
        "test_macro_f1": result.metrics["macro_f1"],
        "worst_site_validation_accuracy": worst,
        "epsilon": last.get("epsilon"),
        "noise_multiplier": result.report["noise_multiplier"],
        "megabytes_per_round": (last["bytes_to_sites"] + last["bytes_from_sites"]) / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", choices=["bbc", "rt"], default="bbc")
    parser.add_argument("--max-examples", type=int, default=None)
    parser.add_argument("--sites", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--layers", type=int, default=None, help="encoder layers (None: all 6)")
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--local-epochs", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--budget-seconds", type=float, default=3000.0)
    parser.add_argument("--results-name", default="federated")
    args = parser.parse_args()

    started = time.perf_counter()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        for name, federated in contenders(args):
            if time.perf_counter() - started > args.budget_seconds:
                rows.append({"contender": name, "skipped": "time budget spent"})
                continue
            rows.append(run_contender(name, federated, args, Path(folder)))
            print(rows[-1], flush=True)
    central = next(
        (r for r in rows if r["contender"] == "centralised" and "test_accuracy" in r), None
    )

    def shown(value: Any) -> Any:
        return "-" if value is None else value

    table = [
        [
            row["contender"],
            shown(row.get("test_accuracy")),
            (row["test_accuracy"] - central["test_accuracy"]) * 100
            if central and "test_accuracy" in row
            else "-",
            shown(row.get("worst_site_validation_accuracy")),
            shown(row.get("epsilon")),
            shown(row.get("seconds_per_round")),
            row.get("skipped", ""),
        ]
        for row in rows
    ]
    print(
        _harness.markdown_table(
            [
                "contender",
                "test acc",
                "vs centralised (points)",
                "worst site val acc",
                "epsilon",
                "s / round",
                "note",
            ],
            table,
        )
    )
    _harness.write_results(
        args.results_name,
        {"settings": vars(args), "machine": _harness.machine_info(), "rows": rows},
    )


if __name__ == "__main__":
    main()
