"""Fine-tune a compressed model on the source run's data: `pipeline.fine_tune`, the same stage a
run trains with, on the source run's prepared data.

Shared by pruning (a short recovery fine-tune after weights or heads are removed) and distillation
(which passes its loss term in the hooks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from tuneforge.compress.methods import CompressOptions, SourceRun
    from tuneforge.pipeline import PreparedData
    from tuneforge.training import TrainingHooks, TrainState


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
        hooks: training-loop hooks (distillation passes its loss term).
        show_progress: show the loop's progress bar; None: when the console is a terminal
            (a distillation runs for minutes).

    Returns:
        The loop state (history, steps) and the metadata re-tuned on validation; on return
        `model` holds the best weights by the source run's validation metric, in eval mode.
    """
    from tuneforge.console import console
    from tuneforge.inference import default_device
    from tuneforge.pipeline import fine_tune

    config = source.config
    training = config.training.model_copy(
        update={
            "epochs": epochs,
            "max_steps": None,
            "learning_rate": learning_rate or config.training.learning_rate,
            "checkpoint_every_steps": None,
        }
    )
    model.to(default_device())
    # No checkpoint folder: a recovery fine-tune is short and not resumable, the best weights
    # stay in memory, and the saved model folder is the artifact.
    result = fine_tune(
        model,
        source.task,
        source_data(source),
        config.model_copy(update={"training": training}),
        hooks=hooks,
        show_progress=console.is_terminal if show_progress is None else show_progress,
        precision=source.info.precision,
    )
    return FineTuneResult(state=result.state, metadata=result.metadata)


def source_data(source: SourceRun) -> PreparedData:
    """The source run's data as the pipeline prepares it, with the run's saved label names and
    metadata (not refitted: the model's head is sized for them)."""
    from tuneforge.pipeline import SPLITS, PreparedData

    return PreparedData(
        splits=source.splits(),
        task=source.task,
        tokenizer=source.tokenizer,
        model_source=str(source.model_dir),
        names=source.label_names,
        metadata=source.info.metadata,
        features={split: source.features(split) for split in SPLITS},
    )


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
