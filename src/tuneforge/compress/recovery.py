"""Fine-tune a compressed model on the source run's data through the core training loop.

Shared by pruning (a short recovery fine-tune after weights or heads are removed) and distillation
(which passes a `compute_loss` hook). The pieces are those of `pipeline.run` — the run's task
encoding, `fit` with a validation-based best checkpoint, threshold tuning on validation — composed
for a model that already exists.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from tuneforge.compress.methods import CompressOptions, SourceRun
    from tuneforge.train import TrainingHooks, TrainState


@dataclass
class FineTuneResult:
    """What a fine-tune on the source run changed: the loop's record and the task metadata."""

    state: TrainState
    metadata: dict[str, Any]
    """The task metadata re-tuned on validation (multilabel thresholds) for the new weights."""


def fine_tune_on_source(
    model: torch.nn.Module,
    source: SourceRun,
    *,
    epochs: float,
    learning_rate: float | None = None,
    hooks: TrainingHooks | None = None,
    show_progress: bool | None = None,
) -> FineTuneResult:
    """Train `model` on the source run's training split with its training settings.

    Args:
        model: a model with the source run's task head (e.g. pruned, or a student).
        source: the run whose data, task and training config are reused.
        epochs: passes over the training split (max_steps of the source run is dropped).
        learning_rate: None keeps the source run's learning rate.
        hooks: training-loop hooks (distillation passes its compute_loss).
        show_progress: show the loop's progress bar; None: when the console is a terminal
            (a distillation runs for minutes).

    Returns:
        The loop state (history, steps) and the metadata re-tuned on validation; on return
        `model` holds the best weights by the source run's validation metric, in eval mode.
    """
    from transformers import set_seed

    from tuneforge.console import console
    from tuneforge.evaluate import higher_is_better
    from tuneforge.inference import resolve_precision
    from tuneforge.train import FitSetup, TrainingHooks, fit

    config = source.config
    task = _task(source)
    splits = source.splits()
    training = config.training.model_copy(
        update={
            "epochs": epochs,
            "max_steps": None,
            "learning_rate": learning_rate or config.training.learning_rate,
            "checkpoint_every_steps": None,
        }
    )
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    precision = resolve_precision(source.info.precision, device)
    metric_for_best = config.training.metric_for_best or task.default_metric
    train_features = source.features("train")
    validation_features = source.features("validation")
    metadata = source.info.metadata

    def evaluate_validation(model: torch.nn.Module) -> dict[str, float]:
        return validation_scores(model, source, splits.validation, validation_features, precision)

    set_seed(training.seed)
    model.to(device)
    # The checkpoints are scratch space: a recovery fine-tune is short and not resumable, and the
    # saved model folder is the artifact.
    with tempfile.TemporaryDirectory(prefix="tuneforge-recovery-") as scratch:
        state = fit(
            model,
            train_features,
            FitSetup(
                config=training,
                pad_token_id=source.tokenizer.pad_token_id or 0,
                checkpoint_dir=Path(scratch),
                precision=precision,
                device=device,
                evaluate=evaluate_validation if splits.validation else None,
                metric_for_best=metric_for_best,
                higher_is_better=higher_is_better(metric_for_best),
                hooks=hooks or TrainingHooks(),
                show_progress=console.is_terminal if show_progress is None else show_progress,
            ),
        )
    model.eval()
    if splits.validation:
        logits, _ = _logits_and_loss(model, source, validation_features, precision)
        names = source.info.label_names
        metadata = task.tune_metadata(logits, splits.validation, names, metadata, config)
    return FineTuneResult(state=state, metadata=metadata)


def recover_after_pruning(
    model: torch.nn.Module, source: SourceRun, options: CompressOptions
) -> tuple[dict[str, Any], int]:
    """The short recovery fine-tune of a pruned model (`options.recovery_epochs` at
    `options.recovery_learning_rate`; 0 epochs: none).

    Returns:
        The task metadata for the new weights and the optimizer steps taken.
    """
    if options.recovery_epochs <= 0:
        return source.info.metadata, 0
    result = fine_tune_on_source(
        model, source, epochs=options.recovery_epochs, learning_rate=options.recovery_learning_rate
    )
    return result.metadata, result.state.global_step


def validation_scores(
    model: torch.nn.Module,
    source: SourceRun,
    records: list[Any],
    features: list[dict[str, Any]],
    precision: str,
) -> dict[str, float]:
    """The scalar metrics (and loss) of `model` on labelled records of the source run's task."""
    from tuneforge.evaluate import scalar_metrics

    info = source.info
    logits, loss = _logits_and_loss(model, source, features, precision)
    metrics = _task(source).compute_metrics(
        logits, records, features, info.label_names, info.metadata, source.config
    )
    return scalar_metrics({"loss": loss, **metrics})


def _logits_and_loss(
    model: torch.nn.Module, source: SourceRun, features: list[dict[str, Any]], precision: str
) -> tuple[Any, float]:
    from tuneforge.inference import forward_logits

    device = next(model.parameters()).device
    rows, loss = forward_logits(
        model,
        features,
        source.config.evaluation.batch_size,
        source.tokenizer.pad_token_id or 0,
        device,
        precision,
    )
    return _task(source).stack_logits(rows), loss


def _task(source: SourceRun) -> Any:
    from tuneforge.tasks import get_task

    return get_task(source.task_type)
