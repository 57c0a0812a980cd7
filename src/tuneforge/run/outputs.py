"""Everything a finished run leaves for people and programs: model, metrics, plots, model card."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tuneforge._atomic import write_json_atomic
from tuneforge._distributed import world_size
from tuneforge.config import RunConfig
from tuneforge.console import console
from tuneforge.run import layout
from tuneforge.run.info import RunInfo, write_run_info
from tuneforge.run.layout import MODEL_DIR

if TYPE_CHECKING:
    from rich.table import Table

RELIABILITY_FILE = "reliability_diagram.png"
# Columns of the baselines table: the headline metrics of classification and multilabel runs.
BASELINE_METRICS = ("macro_f1", "micro_f1", "accuracy", "weighted_f1", "subset_accuracy")
BASELINE_LABELS = {"majority": "majority class", "tfidf_logreg": "TF-IDF + logistic regression"}


def _adversarial_summary(config: RunConfig) -> dict[str, Any] | None:
    """The adversarial training settings and their cost (passes per step against 1)."""
    adversarial = config.robustness.adversarial
    if adversarial.method == "none":
        return None
    return {**adversarial.model_dump(mode="json"), "passes_per_step": adversarial.passes_per_step}


def save_run_outputs(
    run_dir: Path,
    config: RunConfig,
    model: torch.nn.Module,
    tokenizer: Any,
    *,
    task_type: str,
    names: list[str],
    metadata: dict[str, Any],
    precision: str,
    state: Any,
    results: dict[str, dict[str, Any]],
    parameters: tuple[int, int],
    report: dict[str, Any],
    quality: dict[str, Any] | None = None,
) -> None:
    """Save the model and write metrics.json (last), plots and the model card.

    Args:
        quality: {"split", "baselines", "warnings" (QualityWarning list), "class_weighting",
            "privacy"} from the pipeline's guardrails and DP-SGD; written to metrics.json and
            the model card.
    """
    from tuneforge.adapt import save_adapted_model
    from tuneforge.evaluate import (
        metrics_table,
        per_class_table,
        plot_confusion_matrix,
        plot_reliability,
        plot_training_curves,
    )
    from tuneforge.evaluate._calibration import ReliabilityBins
    from tuneforge.evaluate.guardrails import render_warnings

    model_dir = run_dir / MODEL_DIR
    saved_as = save_adapted_model(model.cpu(), model_dir, config.adaptation, config.model.name)
    tokenizer.save_pretrained(model_dir)
    info = RunInfo(
        task=task_type,
        label_names=names,
        metadata=metadata,
        max_seq_length=config.model.max_seq_length,
        base_model=config.model.name,
        num_hidden_layers=config.model.num_hidden_layers,
        adaptation=config.adaptation.method,
        saved_as=saved_as,
        precision=precision,
        long_text=config.model.long_text_settings,
    )
    write_run_info(info, model_dir)

    layout.write_history(run_dir / layout.HISTORY_FILE, state.history)
    plot_training_curves(state.history, run_dir / "training_curves.png")
    headline_split = "test" if "test" in results else "validation"
    headline = results.get(headline_split, {})
    if "confusion_matrix" in headline:
        plot_confusion_matrix(headline["confusion_matrix"], run_dir / "confusion_matrix.png")
    if "reliability" in headline:
        plot_reliability(
            ReliabilityBins.from_json(headline["reliability"]), run_dir / RELIABILITY_FILE
        )
    quality = quality or {}
    warnings = list(quality.get("warnings", []))
    trainable, total = parameters
    metrics = {
        **results,
        "training": {
            "steps": state.global_step,
            "best_step": state.best_step,
            "stopped_early": state.stopped_early,
            "train_seconds": round(state.train_seconds, 3),
            "samples_per_second": (
                round(state.samples_seen / state.train_seconds, 3) if state.train_seconds else None
            ),
            "processes": world_size(),
            "trainable_parameters": trainable,
            "total_parameters": total,
            "trainable_percent": round(100 * trainable / total, 4),
            "precision": precision,
            "class_weighting": quality.get("class_weighting"),
            "adversarial": _adversarial_summary(config),
        },
    }
    if quality.get("privacy") is not None:
        metrics["privacy"] = quality["privacy"]
    if metadata.get("calibration") is not None:
        metrics["calibration"] = metadata["calibration"]
        console.print(calibration_line(metadata["calibration"]))
    if quality.get("dp_gradient_norms") is not None:
        # Not in "privacy" (what the guarantee covers, copied into the registry's lineage) nor
        # in the model card: statistics of the private rows, outside the DP guarantee.
        metrics["dp_gradient_norms"] = quality["dp_gradient_norms"]
    if quality.get("baselines") is not None:
        metrics["baselines"] = {"split": quality["split"], **quality["baselines"]}
    metrics["quality_warnings"] = [warning.to_json() for warning in warnings]
    write_model_card(run_dir, config, info, metrics, report)
    # metrics.json last: its presence marks the run as finished (run_dir.is_finished).
    write_json_atomic(metrics, run_dir / layout.METRICS_FILE)
    if headline:
        console.print(metrics_table(headline, title=f"{headline_split} metrics"))
        breakdown = per_class_table(headline)
        if breakdown is not None:
            console.print(breakdown)
    if "baselines" in metrics:
        console.print(baselines_table(headline, metrics["baselines"], config.training))
    if warnings:
        console.print(render_warnings(warnings))
    console.print(f"[green]Run saved to {run_dir}[/]")


def baselines_table(
    model_metrics: dict[str, Any], baselines: dict[str, Any], training: Any
) -> Table:
    """The model next to the majority-class and TF-IDF baselines on the same split."""
    from rich.table import Table

    split = baselines["split"]
    table = Table(title=f"model vs baselines ({split} split)")
    table.add_column("model")
    names = [name for name in BASELINE_METRICS if name in model_metrics]
    for name in names:
        table.add_column(name, justify="right")
    rows = [("this model", model_metrics), *((k, v) for k, v in baselines.items() if k != "split")]
    for label, values in rows:
        table.add_row(
            BASELINE_LABELS.get(label, label),
            *(f"{values[name]:.4f}" if name in values else "-" for name in names),
        )
    return table


def write_model_card(
    run_dir: Path,
    config: RunConfig,
    info: RunInfo,
    metrics: dict[str, Any],
    report: dict[str, Any],
) -> None:
    """A markdown model card (Mitchell et al., 2019): what the model is, how it was made, how good
    it is on held-out data, and what it must not be used for."""
    headline_split = "test" if "test" in metrics else "validation"
    headline = metrics.get(headline_split, {})
    scalar_rows = "\n".join(
        f"| {name} | {value:.4f} |"
        for name, value in headline.items()
        if isinstance(value, float) and name != "loss"
    )
    training = metrics["training"]
    splits = report.get("splits", {})
    sizes = ", ".join(
        f"{name}: {info.get('size', info) if isinstance(info, dict) else info}"
        for name, info in splits.items()
    )
    baselines = metrics.get("baselines")
    baseline_section = ""
    if baselines:
        names = [name for name in BASELINE_METRICS if name in headline]
        lines = [
            f"| {BASELINE_LABELS.get(label, label)} | "
            + " | ".join(f"{values.get(n, float('nan')):.4f}" for n in names)
            + " |"
            for label, values in [("this model", headline)]
            + [(k, v) for k, v in baselines.items() if k != "split"]
        ]
        baseline_section = (
            f"\n## Baselines ({baselines['split']} split, fitted on the training split)\n"
            f"| model | {' | '.join(names)} |\n|---|{'---|' * len(names)}\n"
            + "\n".join(lines)
            + "\n"
        )
    warning_lines = "".join(
        f"- **Warning:** {w['message']} Try: {w['advice']}\n" for w in metrics["quality_warnings"]
    )
    if warning_lines:
        baseline_section += f"\n## Quality warnings\n{warning_lines}"
    card = f"""# Model card: {run_dir.name}

Fine-tuned with [tuneforge](https://github.com/) from `{config.model.name}`.

## Model
- Task: **{info.task}** with {len(info.label_names)} label(s): {", ".join(info.label_names[:30])}
- Base model: `{config.model.name}`{f" (first {config.model.num_hidden_layers} layers)" if config.model.num_hidden_layers else ""}
- Adaptation: {config.adaptation.method} ({training["trainable_parameters"]:,} of {training["total_parameters"]:,} parameters trained, {training["trainable_percent"]:.2f}%); saved as {info.saved_as}
- Max sequence length: {config.model.max_seq_length} tokens ({_long_text_line(config)})

## Training data
- Source: `{config.data.source}`; split sizes: {sizes}
- Split seed {config.data.split.seed}; quarantined rows: {report.get("quarantine", {}).get("total", 0)} (reasons in quarantine.jsonl)

## Training
- {training["steps"]} optimizer steps, batch size {config.training.batch_size} x {config.training.gradient_accumulation_steps} accumulation, learning rate {config.training.learning_rate}, {config.training.lr_schedule} schedule, warmup {config.training.warmup_ratio}, precision {training["precision"]}, seed {config.training.seed}
- Best checkpoint at step {training["best_step"]}{" (early stopping)" if training["stopped_early"] else ""}

{_privacy_section(metrics.get("privacy"))}
## Evaluation ({headline_split} split)
{_calibration_note(metrics.get("calibration"))}| metric | value |
|---|---|
{scalar_rows}
{baseline_section}
## Intended use and limitations
- Use on text like the training data: same language, domain and label set. Accuracy on other
  domains is unknown; measure it with `tuneforge evaluate {run_dir} --data <file>` first.
- Inputs longer than {config.model.max_seq_length} tokens are cut; see data_report.json for how
  many training examples were.
- The model inherits the biases of `{config.model.name}` and of the training data; do not use it
  for decisions about people without a fairness review.
"""
    (run_dir / layout.MODEL_CARD_FILE).write_text(card, encoding="utf-8")
    (run_dir / MODEL_DIR / "README.md").write_text(card, encoding="utf-8")


def _privacy_section(privacy: dict[str, Any] | None) -> str:
    if privacy is None:
        return ""
    stopped = (
        f" The budget stopped training after {privacy['steps']} of {privacy['planned_steps']} "
        "planned steps."
        if privacy["budget_exhausted"]
        else ""
    )
    fraction = privacy.get("head_clip_fraction")
    grouped = (
        f" (group-wise: the task head's gradient at {fraction:g} of it, the rest at "
        f"{math.sqrt(1 - fraction**2):.3g})"
        if fraction is not None
        else ""
    )
    quantile = privacy.get("clip_quantile")
    clip = (
        f"adaptive per-example clipping (Andrew et al. 2021: toward the {quantile:g} quantile "
        f"of the gradient norms, from {privacy['max_grad_norm']:g} to "
        f"{privacy['final_clip']:.3g}; its noisy counts are inside the guarantee)"
        if quantile is not None and privacy.get("final_clip") is not None
        else f"per-example clipping at {privacy['max_grad_norm']:g}"
    )
    return f"""
## Differential privacy
- Trained with DP-SGD (Opacus): **(epsilon = {privacy["epsilon"]:.2f}, delta = {privacy["delta"]:.2g})**
  by the {privacy["accountant"].upper()} accountant, for {privacy["steps"]} steps with noise
  multiplier {privacy["noise_multiplier"]:.3f}, {clip}{grouped}
  and Poisson sampling rate {privacy["sample_rate"]:.4g} over {privacy["training_rows"]} rows.{stopped}
- What it protects: any one training row changes the trained weights' distribution by at most
  that much. It does not protect text that repeats across many rows, the base model's own
  training data, or inputs sent to the model once it serves.
"""


def calibration_line(calibration: dict[str, Any]) -> str:
    """What temperature scaling did, in one line (console and model card)."""
    if "skipped" in calibration:
        return f"Calibration: not fitted ({calibration['skipped']}); scores are the raw softmax."
    return (
        f"Calibration: temperature {calibration['temperature']:.3g} fitted on "
        f"{calibration['examples']} validation examples; there, expected calibration error "
        f"{calibration['ece_before']:.4f} -> {calibration['ece_after']:.4f}, NLL "
        f"{calibration['nll_before']:.4f} -> {calibration['nll_after']:.4f} (classes unchanged)."
    )


def _calibration_note(calibration: dict[str, Any] | None) -> str:
    return f"{calibration_line(calibration)}\n\n" if calibration else ""


def load_metrics(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / layout.METRICS_FILE).read_text(encoding="utf-8"))


def _long_text_line(config: RunConfig) -> str:
    settings = config.model.long_text_settings
    if settings is None:
        return "longer inputs are truncated"
    return (
        f"longer inputs are read whole, up to {settings['max_chunks']} overlapping windows "
        f"({settings['overlap']} tokens shared), their logits {settings['pooling']}-pooled"
    )
