"""Which attribution method is faithful to a fine-tuned model: IG vs LIME vs SHAP, ERASER-style.

    python -m benchmarks.explain_faithfulness --run bbc_news=/tmp/xruns/bbc_news \
        --run rt_sentences=/tmp/xruns/rt_sentences [--n 30] [--quick] [--methods ig,lime,shap]
        [--n-steps 50] [--samples 500] [--out NAME]

For each finished run (6-layer all-MiniLM-L6-v2 fine-tuned with tuneforge: BBC News topics,
and the binary Rotten Tomatoes sentence set of `benchmarks.rt_sentences`), explains --n texts
of its own test split (a seeded sample) with every method, then scores the rankings with
tuneforge.explain.faithfulness: comprehensiveness and sufficiency as AOPC over the top
1/5/10/20/50% words (DeYoung et al. 2020), each against random rankings of the same words
(gain > 0: better than chance; faithfulness = the sum of both gains), and the time per text of
each method (IG at --n-steps, 50 by default). Runs in this process, one method after another on
the same texts; --quick explains 5 texts with 100 LIME/SHAP samples. JSON goes to
benchmarks/results/explain_faithfulness.json (_quick with --quick).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchmarks import _harness

if TYPE_CHECKING:
    from tuneforge.explain.faithfulness import FaithfulnessReport


def measure_run(
    run_dir: Path,
    n: int,
    methods: list[str],
    n_steps: int,
    samples: int,
    seed: int = 0,
    on_partial: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Faithfulness report of one run on n texts of its test split; `on_partial` gets the
    report of the texts done so far every 5 texts."""
    from tuneforge.explain import ExplainSettings, load_explain_model
    from tuneforge.explain.faithfulness import evaluate_faithfulness
    from tuneforge.run.layout import read_records

    model = load_explain_model(run_dir)
    records = read_records(run_dir / "splits" / "test.jsonl")
    texts = [record.text for record in random.Random(seed).sample(records, min(n, len(records)))]
    settings = ExplainSettings(
        n_steps=n_steps, lime_samples=samples, shap_max_evals=samples, seed=seed
    )
    started = time.perf_counter()
    words = [len(model.encode(t).word_spans) for t in texts]

    def as_result(report: FaithfulnessReport) -> dict[str, Any]:
        result = report.to_json()
        result["wall_s"] = time.perf_counter() - started
        result["mean_words"] = sum(words[: report.texts]) / max(1, report.texts)
        return result

    partial = None if on_partial is None else (lambda report: on_partial(as_result(report)))
    report = evaluate_faithfulness(
        model, texts, methods, settings, show_progress=True, on_partial=partial
    )
    return as_result(report)


def table(results: dict[str, dict[str, Any]]) -> str:
    columns = [
        "dataset",
        "method",
        "comprehensiveness",
        "gain vs random",
        "sufficiency",
        "gain vs random",
        "faithfulness",
        "s / text",
    ]
    rows = []
    for dataset, result in results.items():
        for method in result["ranking"]:
            row = result["methods"][method]
            rows.append(
                [
                    dataset,
                    method,
                    row["comprehensiveness"],
                    row["comprehensiveness_gain"],
                    row["sufficiency"],
                    row["sufficiency_gain"],
                    row["faithfulness"],
                    row["seconds_per_text"],
                ]
            )
        first = next(iter(result["methods"].values()))
        rows.append(
            [
                dataset,
                "random",
                first["comprehensiveness_random"],
                0.0,
                first["sufficiency_random"],
                0.0,
                0.0,
                "-",
            ]
        )
    return _harness.markdown_table(columns, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", action="append", required=True, help="NAME=RUN_DIR")
    parser.add_argument("--n", type=int, default=30, help="test texts per run")
    parser.add_argument("--methods", default="ig,lime,shap")
    parser.add_argument("--n-steps", type=int, default=50)
    parser.add_argument("--samples", type=int, default=500, help="LIME samples, SHAP evals")
    parser.add_argument("--quick", action="store_true", help="5 texts, 100 samples")
    parser.add_argument("--out", help="results file name (default explain_faithfulness)")
    args = parser.parse_args(argv)
    n, samples = (5, 100) if args.quick else (args.n, args.samples)
    methods = args.methods.split(",")
    results: dict[str, dict[str, Any]] = {}
    name = args.out or ("explain_faithfulness_quick" if args.quick else "explain_faithfulness")

    def write(partial: bool) -> Path:
        payload = {
            "texts_per_run": n,
            "n_steps": args.n_steps,
            "samples": samples,
            "runs": {spec.partition("=")[0]: spec.partition("=")[2] for spec in args.run},
            "results": results,
            "partial": partial,
            "machine": _harness.machine_info(),
        }
        return _harness.write_results(name, payload)

    for spec in args.run:
        dataset, _, folder = spec.partition("=")
        print(f"{dataset}: {n} texts, {', '.join(methods)}", file=sys.stderr)

        def keep(result: dict[str, Any], dataset: str = dataset) -> None:
            # Written every few texts: a long benchmark stopped midway keeps what it measured.
            results[dataset] = result
            write(partial=True)
            print(f"{dataset}: {result['texts']} texts done", file=sys.stderr, flush=True)

        results[dataset] = measure_run(
            Path(folder), n, methods, args.n_steps, samples, on_partial=keep
        )
        path = write(partial=False)
        print(table({dataset: results[dataset]}), file=sys.stderr)
    print(table(results))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
