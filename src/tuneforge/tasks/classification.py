"""Single-label classification: softmax over the classes, cross-entropy loss."""

from __future__ import annotations

from typing import Any

import numpy as np

from tuneforge.config import RunConfig
from tuneforge.data.records import Record
from tuneforge.tasks._encoding import Features, class_head_config, softmax, tokenize_texts

AUTO_CLASS = "AutoModelForSequenceClassification"


def label_names(train: list[Record], declared: list[str] | None) -> list[str]:
    return list(declared) if declared else sorted({str(record.label) for record in train})


def fit_metadata(train: list[Record], names: list[str]) -> dict[str, Any]:
    return {}


def head_config(names: list[str], metadata: dict[str, Any]) -> dict[str, Any]:
    return class_head_config(names, "single_label_classification")


def encode(
    records: list[Record],
    tokenizer: Any,
    names: list[str],
    max_seq_length: int,
    metadata: dict[str, Any],
) -> list[Features]:
    features = tokenize_texts(tokenizer, [record.text for record in records], max_seq_length)
    index = {name: position for position, name in enumerate(names)}
    for feature, record in zip(features, records, strict=True):
        if record.label is not None:  # unlabelled at prediction time
            feature["labels"] = index[str(record.label)]
    return features


def tune_metadata(
    logits: np.ndarray,
    records: list[Record],
    names: list[str],
    metadata: dict[str, Any],
    config: RunConfig,
) -> dict[str, Any]:
    return metadata


def compute_metrics(
    logits: np.ndarray,
    records: list[Record],
    features: list[Features],
    names: list[str],
    metadata: dict[str, Any],
    config: RunConfig,
) -> dict[str, Any]:
    from tuneforge.evaluate import classification_metrics

    labels = np.array([feature["labels"] for feature in features], dtype=np.int64)
    return classification_metrics(
        labels, softmax(logits), names, calibration_bins=config.evaluation.calibration_bins
    )


def predict(
    logits: np.ndarray,
    texts: list[str],
    features: list[Features],
    names: list[str],
    metadata: dict[str, Any],
) -> list[dict[str, Any]]:
    probabilities = softmax(logits)
    predictions = []
    for row in probabilities:
        best = int(row.argmax())
        predictions.append(
            {
                "label": names[best],
                "score": float(row[best]),
                "probabilities": {name: float(p) for name, p in zip(names, row, strict=True)},
            }
        )
    return predictions
