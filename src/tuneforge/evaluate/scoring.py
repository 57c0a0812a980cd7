"""The one way a model is scored on labelled records: logits, then the task's metrics.

Every caller scores through here: validation during training, the final validation and test
scores of a run, compression recovery, `tuneforge evaluate` and the compression trade-off
table. The task is passed in as a value (tasks/ sits above this library and imports it), so
this module only sees the Task protocol's methods.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from tuneforge.tasks.base import Task


@dataclass
class Scored:
    metrics: dict[str, Any]
    """The task's metrics (loss included when computed)."""
    logits: Any
    """The stacked logits, kept for threshold tuning on validation."""
    features: list[dict[str, Any]]
    """The features the logits line up with: one per text (the first window's when the run
    reads long texts in windows), for re-scoring the same logits later."""


def score_logits(
    task: Task,
    logits: Any,
    records: list[Any],
    features: list[dict[str, Any]],
    *,
    names: list[str],
    metadata: dict[str, Any],
    config: Any,
    loss: float | None = None,
) -> dict[str, Any]:
    """The task's metrics of already computed logits (e.g. from a Predictor or ONNX Runtime)."""
    metrics = task.compute_metrics(logits, records, features, names, metadata, config)
    return metrics if loss is None else {"loss": loss, **metrics}


def evaluate_model(
    model: torch.nn.Module,
    task: Task,
    records: list[Any],
    features: list[dict[str, Any]],
    *,
    names: list[str],
    metadata: dict[str, Any],
    config: Any,
    precision: str,
    pad_token_id: int,
) -> Scored:
    """Forward `features` through `model` (eval mode, on its own device) and score them.

    Args:
        model: a task model; its train/eval mode is restored on return.
        task: the run's Task.
        records, features: the labelled records and their encoded features, in the same order.
        names, metadata: the run's label names and task metadata (e.g. multilabel thresholds).
        config: the run's RunConfig (evaluation batch size, calibration bins).
        precision: "fp32" or "bf16" autocast.
        pad_token_id: the tokenizer's padding id.
    """
    from tuneforge.inference import forward_logits, pool_windows

    device = next(model.parameters()).device
    rows, loss = forward_logits(
        model, features, config.evaluation.batch_size, pad_token_id, device, precision
    )
    # model.long_text: chunks: one row per text from its windows; the loss stays per window.
    rows, features = pool_windows(rows, features, config.model.chunk_pooling)
    logits = task.stack_logits(rows)
    metrics = score_logits(
        task, logits, records, features, names=names, metadata=metadata, config=config, loss=loss
    )
    return Scored(metrics, logits, features)
