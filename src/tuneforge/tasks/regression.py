"""Regression: one output, mean-squared error on standardised targets.

Targets are standardised with the training split's mean and standard deviation so that the
randomly initialised head starts near the right scale whatever the unit (ratings 1-5, prices);
predictions are mapped back to the original unit.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from tuneforge.config import RunConfig
from tuneforge.data.records import Record
from tuneforge.tasks._encoding import Features, tokenize_texts
from tuneforge.tasks.base import TaskDefaults


def label_names(train: list[Record], declared: list[str] | None) -> list[str]:
    return ["value"]  # one output; data.labels cannot be set for regression (a config error)


def fit_metadata(train: list[Record], names: list[str]) -> dict[str, Any]:
    targets = np.array([float(record.label) for record in train], dtype=np.float64)
    std = float(targets.std())
    return {"target_mean": float(targets.mean()), "target_std": std if std > 0 else 1.0}


def head_config(names: list[str], metadata: dict[str, Any]) -> dict[str, Any]:
    return {
        "num_labels": 1,
        "id2label": {0: "value"},
        "label2id": {"value": 0},
        "problem_type": "regression",
    }


def encode(
    records: list[Record],
    tokenizer: Any,
    names: list[str],
    max_seq_length: int,
    metadata: dict[str, Any],
) -> list[Features]:
    features = tokenize_texts(tokenizer, [record.text for record in records], max_seq_length)
    mean, std = metadata["target_mean"], metadata["target_std"]
    for feature, record in zip(features, records, strict=True):
        if record.label is not None:  # unlabelled at prediction time
            feature["labels"] = (float(record.label) - mean) / std
    return features


def to_original_unit(logits: np.ndarray, metadata: dict[str, Any]) -> np.ndarray:
    return logits.reshape(-1) * metadata["target_std"] + metadata["target_mean"]


def compute_metrics(
    logits: np.ndarray,
    records: list[Record],
    features: list[Features],
    names: list[str],
    metadata: dict[str, Any],
    config: RunConfig,
) -> dict[str, Any]:
    from tuneforge.evaluate import regression_metrics

    targets = np.array([float(record.label) for record in records], dtype=np.float64)
    return regression_metrics(targets, to_original_unit(logits, metadata))


def predict(
    logits: np.ndarray,
    texts: list[str],
    features: list[Features],
    names: list[str],
    metadata: dict[str, Any],
) -> list[dict[str, Any]]:
    return [{"value": float(value)} for value in to_original_unit(logits, metadata)]


class RegressionTask(TaskDefaults):
    """A number per text: one output, mean-squared error on standardised targets."""

    name = "regression"
    auto_class = "AutoModelForSequenceClassification"
    default_metric = "r2"  # scale-free, unlike mse
    peft_task_type = "SEQ_CLS"
    class_statistic = "predicted_value"

    label_names = staticmethod(label_names)
    fit_metadata = staticmethod(fit_metadata)
    head_config = staticmethod(head_config)
    encode = staticmethod(encode)
    compute_metrics = staticmethod(compute_metrics)
    predict = staticmethod(predict)

    def soft_label_loss(
        self,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor,
        temperature: float,
        labels: torch.Tensor | None,
    ) -> torch.Tensor:
        # No distribution to soften: the student matches the teacher's output directly.
        return F.mse_loss(student_logits.float(), teacher_logits.float())

    def explained_value(self, score: float, metadata: dict[str, Any]) -> float:
        """Attributions explain the standardised output (its gradients); the value reported
        beside them is the one `predict` gives."""
        return float(to_original_unit(np.array([score]), metadata)[0])

    def observed_value(self, prediction: dict[str, Any]) -> float | None:
        return float(prediction["value"])

    def label_items(self, record: Record) -> tuple[str, ...]:
        return ()


TASK = RegressionTask()
