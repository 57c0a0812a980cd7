"""Multi-label classification: an independent sigmoid per label, a tuned threshold per label."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tuneforge.config import RunConfig
from tuneforge.data.records import Record
from tuneforge.tasks._distillation import bernoulli_kl
from tuneforge.tasks._encoding import Features, class_head_config, sigmoid, tokenize_texts
from tuneforge.tasks._weighting import (
    ClassWeighting,
    LossTerm,
    multi_label_weighting,
    weighted_binary_cross_entropy,
)
from tuneforge.tasks.base import TaskDefaults


def label_names(train: list[Record], declared: list[str] | None) -> list[str]:
    if declared:
        return list(declared)
    return sorted({name for record in train for name in _as_tuple(record.label)})


def fit_metadata(train: list[Record], names: list[str]) -> dict[str, Any]:
    # Thresholds start at the configured default; tune_metadata replaces them from validation.
    return {"thresholds": None}


def head_config(names: list[str], metadata: dict[str, Any]) -> dict[str, Any]:
    return class_head_config(names, "multi_label_classification")


def encode(
    records: list[Record],
    tokenizer: Any,
    names: list[str],
    max_seq_length: int,
    metadata: dict[str, Any],
) -> list[Features]:
    features = tokenize_texts(tokenizer, [record.text for record in records], max_seq_length)
    for feature, record in zip(features, records, strict=True):
        if record.label is not None:  # unlabelled at prediction time
            feature["labels"] = _multi_hot(record, names).tolist()
    return features


def thresholds(metadata: dict[str, Any], names: list[str], config: RunConfig) -> np.ndarray:
    tuned = metadata.get("thresholds")
    if tuned is not None:
        return np.asarray(tuned, dtype=np.float64)
    return np.full(len(names), config.task.threshold)


def tune_metadata(
    logits: np.ndarray,
    records: list[Record],
    names: list[str],
    metadata: dict[str, Any],
    config: RunConfig,
) -> dict[str, Any]:
    if not config.task.tune_thresholds or not records:
        # Record the cut the metrics used: `predict` has no config and would otherwise apply 0.5.
        return {**metadata, "thresholds": thresholds(metadata, names, config).tolist()}
    from tuneforge.evaluate import tune_thresholds

    labels = np.stack([_multi_hot(record, names) for record in records])
    return {**metadata, "thresholds": tune_thresholds(labels, sigmoid(logits)).tolist()}


def compute_metrics(
    logits: np.ndarray,
    records: list[Record],
    features: list[Features],
    names: list[str],
    metadata: dict[str, Any],
    config: RunConfig,
) -> dict[str, Any]:
    from tuneforge.evaluate import multilabel_metrics

    labels = np.asarray([feature["labels"] for feature in features], dtype=np.int64)
    return multilabel_metrics(labels, sigmoid(logits), names, thresholds(metadata, names, config))


def predict(
    logits: np.ndarray,
    texts: list[str],
    features: list[Features],
    names: list[str],
    metadata: dict[str, Any],
) -> list[dict[str, Any]]:
    probabilities = sigmoid(logits)
    cut = np.asarray(metadata.get("thresholds") or [0.5] * len(names))
    return [
        {
            "labels": [name for name, p, t in zip(names, row, cut, strict=True) if p >= t],
            "probabilities": {name: float(p) for name, p in zip(names, row, strict=True)},
        }
        for row in probabilities
    ]


def _as_tuple(label: Any) -> tuple[str, ...]:
    return tuple(label) if isinstance(label, (tuple, list)) else (str(label),)


def _multi_hot(record: Record, names: list[str]) -> np.ndarray:
    index = {name: position for position, name in enumerate(names)}
    vector = np.zeros(len(names), dtype=np.float32)
    for name in _as_tuple(record.label):
        vector[index[name]] = 1.0
    return vector


class MultilabelTask(TaskDefaults):
    """Any number of labels per text: an independent sigmoid per label, a tuned threshold each."""

    name = "multilabel"
    auto_class = "AutoModelForSequenceClassification"
    default_metric = "micro_f1"  # rare labels with few positives make macro F1 noisy
    peft_task_type = "SEQ_CLS"
    class_statistic = "label_positive_rate"
    has_classes = True

    label_names = staticmethod(label_names)
    fit_metadata = staticmethod(fit_metadata)
    head_config = staticmethod(head_config)
    encode = staticmethod(encode)
    tune_metadata = staticmethod(tune_metadata)
    compute_metrics = staticmethod(compute_metrics)
    predict = staticmethod(predict)

    def soft_label_loss(
        self,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor,
        temperature: float,
        labels: torch.Tensor | None,
    ) -> torch.Tensor:
        return bernoulli_kl(student_logits, teacher_logits, temperature)

    def observed_classes(self, prediction: dict[str, Any]) -> tuple[str, ...]:
        return tuple(prediction["labels"])

    def true_label_logit(self, logits: Any, features: list[Features]) -> np.ndarray | None:
        # p is the probability of the whole true label set, the product of the independent
        # per-label sigmoids: log p = -sum softplus(-s z) with s = +1 for a label present, -1
        # absent. log(1 - p) = log(-expm1(log p)), clipped where p rounds to 1.
        scores = np.asarray(logits, dtype=np.float64)
        signs = 2.0 * np.asarray([feature["labels"] for feature in features], np.float64) - 1.0
        log_p = -np.logaddexp(0.0, -signs * scores).sum(axis=1)
        log_not_p = np.log(np.maximum(-np.expm1(log_p), np.finfo(np.float64).tiny))
        return log_p - log_not_p

    def class_weighting(
        self, train: list[Features], names: list[str], mode: str
    ) -> tuple[ClassWeighting | None, LossTerm | None]:
        weighting = multi_label_weighting([feature["labels"] for feature in train], names, mode)
        if not weighting.applied:
            return weighting, None
        return weighting, weighted_binary_cross_entropy([weighting.weights[n] for n in names])

    def score_baselines(
        self, train: list[Record], evaluated: list[Record], names: list[str], config: RunConfig
    ) -> dict[str, dict[str, Any]]:
        from tuneforge.evaluate.baselines import baseline_metrics

        return baseline_metrics(
            [record.text for record in train],
            [list(_as_tuple(record.label)) for record in train],
            [record.text for record in evaluated],
            [list(_as_tuple(record.label)) for record in evaluated],
            names,
            multilabel=True,
            seed=config.training.seed,
            calibration_bins=config.evaluation.calibration_bins,
        )

    def observed_confidence(self, prediction: dict[str, Any]) -> float | None:
        # How sure each per-label decision is (distance from a coin flip), averaged over labels.
        probabilities = np.asarray(list(prediction["probabilities"].values()), dtype=np.float64)
        return float(np.maximum(probabilities, 1.0 - probabilities).mean())

    def explained_scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Independent per-label probabilities (the head's sigmoids)."""
        return torch.sigmoid(logits.float())


TASK = MultilabelTask()
