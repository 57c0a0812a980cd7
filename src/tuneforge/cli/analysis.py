"""Commands that read a finished run: compress, robustness, privacy audit, explain, embed-map."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuneforge.cli.app import (
    InputOption,
    RunDirArg,
    TextColumnOption,
    app,
)
from tuneforge.console import console


@app.command()
def compress(
    run_dir: Annotated[Path, typer.Argument(help="A finished run folder (runs/<name>).")],
    method: Annotated[
        str | None,
        typer.Option(
            help="onnx, onnx-int8-dynamic, onnx-int8-static, torch-int8, openvino, "
            "openvino-int8, prune-magnitude, prune-heads or distill."
        ),
    ] = None,
    sweep: Annotated[
        bool, typer.Option("--sweep", help="Every method that applies; one trade-off report.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            help="New run folder (default runs/<run>-<method>); with --sweep, its parent."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="A compression option: --set calibration_size=256"),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing compressed run folders.")
    ] = False,
    skip_training: Annotated[
        bool,
        typer.Option("--skip-training", help="--sweep without methods that fine-tune."),
    ] = False,
) -> None:
    """Compress a finished run (ONNX, int8, pruning, distillation) and measure the trade-off."""
    from tuneforge.compress.command import compress_command

    compress_command(run_dir, method, sweep, output, set_, overwrite, skip_training)


@app.command()
def robustness(
    run_dir: Annotated[Path, typer.Argument(help="A finished classification run (runs/<name>).")],
    attack: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated attacks: typos, charswap, homoglyphs, deepwordbug, synonyms "
            "(default: all)."
        ),
    ] = None,
    budget: Annotated[
        int, typer.Option(help="Model queries per example and attack at most.")
    ] = 100,
    data: Annotated[
        Path | None, typer.Option(help="A labelled file instead of the run's test split.")
    ] = None,
    max_words_fraction: Annotated[
        float, typer.Option(help="Share of an example's words an attack may change.")
    ] = 0.2,
    max_examples: Annotated[
        int, typer.Option(help="Attack a seeded sample of this many examples.")
    ] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the sample and of every attack.")] = 0,
) -> None:
    """Attack a run's classifier; write robustness/ and a model-card section."""
    from tuneforge.robustness import SuiteSettings, run_robustness
    from tuneforge.robustness.attacks import DEFAULT_ATTACKS

    names = tuple(name.strip() for name in attack.split(",")) if attack else DEFAULT_ATTACKS
    settings = SuiteSettings(names, budget, max_words_fraction, seed, max_examples)
    report = run_robustness(run_dir, settings, data)
    console.print(
        f"clean accuracy {report['clean_accuracy']:.3f}; "
        + ", ".join(f"{name} {a['accuracy']:.3f}" for name, a in report["attacks"].items())
    )
    console.print(f"Report written to {run_dir / 'robustness'}")


privacy_app = typer.Typer(help="Privacy of a trained model.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")


@privacy_app.command("audit")
def privacy_audit(
    run_dir: Annotated[
        Path, typer.Argument(help="A finished classification or multilabel run (runs/<name>).")
    ],
    shadows: Annotated[int, typer.Option(help="Shadow models for LiRA (at least 2).")] = 4,
    shadow_epochs: Annotated[
        float | None, typer.Option(help="Epochs per shadow model (default: the run's).")
    ] = None,
    max_examples: Annotated[
        int, typer.Option(help="Members and non-members audited at most (each).")
    ] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the sample and the shadows' halves.")] = 0,
    include_validation: Annotated[
        bool,
        typer.Option("--include-validation", help="Count validation rows as non-members too."),
    ] = False,
    variance: Annotated[
        str, typer.Option(help="LiRA variance: auto, fixed or per-example.")
    ] = "auto",
    output: Annotated[
        Path | None, typer.Option(help="Report folder (default <run>/privacy_audit).")
    ] = None,
) -> None:
    """Membership inference (loss threshold and LiRA) against a run; write the audit report."""
    from tuneforge.privacy.audit import AuditSettings, run_audit

    settings = AuditSettings(
        shadows, shadow_epochs, max_examples, seed, include_validation, variance
    )
    report = run_audit(run_dir, settings, output)
    console.print(
        ", ".join(
            f"{name}: AUC {a['auc']:.3f}, TPR@1%FPR {a['tpr_at_1pct_fpr']:.3f}"
            for name, a in report["attacks"].items()
        )
        + f"; empirical ε ≥ {report['epsilon_lower_bound']:.2f}"
        + (
            f" (accountant ε = {report['accountant_epsilon']:.3g})"
            if report["accountant_epsilon"] is not None
            else " (not a DP run)"
        )
    )
    console.print(f"Report written to {output or run_dir / 'privacy_audit'}")


@app.command()
def explain(
    run_dir: RunDirArg,
    text: Annotated[
        list[str] | None, typer.Option("--text", help="A text to explain (repeatable).")
    ] = None,
    input_path: InputOption = None,
    output: Annotated[Path | None, typer.Option(help="Attributions as JSONL.")] = None,
    method: Annotated[
        str | None,
        typer.Option(help="ig, lime, shap or all (default ig; all with --faithfulness)."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="The label to explain (default: the predicted one; all). NER: an entity type "
            "(default: every predicted span)."
        ),
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Write a highlighted HTML page.")] = None,
    faithfulness: Annotated[
        bool, typer.Option("--faithfulness", help="Rank the methods on the run's test split.")
    ] = False,
    n: Annotated[int, typer.Option("--n", help="Test texts for --faithfulness.")] = 200,
    n_steps: Annotated[int, typer.Option(help="Integrated-gradients steps.")] = 50,
    lime_samples: Annotated[int, typer.Option(help="Perturbed texts per LIME text.")] = 500,
    shap_evals: Annotated[int, typer.Option(help="Model calls per SHAP text.")] = 500,
    text_column: TextColumnOption = None,
) -> None:
    """Word attributions (integrated gradients, LIME, SHAP) and their faithfulness."""
    from tuneforge.explain import ExplainSettings
    from tuneforge.explain.command import explain_command

    settings = ExplainSettings(
        n_steps=n_steps, lime_samples=lime_samples, shap_max_evals=shap_evals
    )
    explain_command(
        run_dir,
        text,
        input_path,
        output,
        method,
        target,
        html,
        faithfulness,
        n,
        settings,
        text_column,
    )


@app.command("embed-map")
def embed_map(
    run_dir: RunDirArg,
    method: Annotated[str, typer.Option(help="pca, tsne or umap.")] = "pca",
    split: Annotated[
        str, typer.Option(help="The saved split to map: validation or test (runs keep those).")
    ] = "test",
    output: Annotated[
        Path | None, typer.Option(help="Folder for the files (default <run>/explanations).")
    ] = None,
) -> None:
    """Map the run's sentence representations of a split (PNG, interactive HTML, silhouette)."""
    from tuneforge.explain.embedding_map import embed_map_command

    paths = embed_map_command(run_dir, method, split, output)
    console.print(f"Wrote {', '.join(str(p) for p in paths)}")
