"""Regression: one output, mean-squared error on standardised targets.

Targets are standardised with the training split's mean and standard deviation so that the
randomly initialised head starts near the right scale whatever the unit (ratings 1-5, prices);
predictions are mapped back to the original unit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tuneforge.config import RunConfig
from tuneforge.data.records import Record
from tuneforge.tasks._encoding import Features, tokenize_texts

AUTO_CLASS = "AutoModelForSequenceClassification"


def label_names(train: list[Record], declared: list[str] | None) -> list[str]:
    return ["value"]


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


def tune_metadata(
    logits: np.ndarray,
    records: list[Record],
    names: list[str],
    metadata: dict[str, Any],
    config: RunConfig,
) -> dict[str, Any]:
    return metadata


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
