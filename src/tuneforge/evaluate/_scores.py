"""Shape checks and scikit-learn precision/recall/F1 shared by the classification metrics."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_fscore_support


def check_shapes(
    labels: np.ndarray, probabilities: np.ndarray, label_names: list[str], multilabel: bool
) -> None:
    """Raise ValueError unless labels and probabilities fit (n, k) with k = len(label_names)."""
    num_classes = len(label_names)
    expected = (probabilities.shape[0], num_classes) if multilabel else (probabilities.shape[0],)
    if probabilities.ndim != 2 or probabilities.shape[1] != num_classes or labels.shape != expected:
        raise ValueError(
            f"expected probabilities (n, {num_classes}) and labels of shape {expected}, "
            f"got {probabilities.shape} and {labels.shape}"
        )
    if probabilities.shape[0] == 0:
        raise ValueError("cannot score zero examples")


def averaged_scores(
    y_true: np.ndarray, y_pred: np.ndarray, ids: list[int], averages: tuple[str, ...]
) -> dict[str, Any]:
    """{average}_precision/_recall/_f1 for each sklearn ``average``; undefined values count as 0."""
    scores: dict[str, Any] = {}
    for average in averages:
        precision, recall, f1, _ = precision_recall_fscore_support(
            y_true, y_pred, labels=ids, average=average, zero_division=0
        )
        scores |= {
            f"{average}_precision": float(precision),
            f"{average}_recall": float(recall),
            f"{average}_f1": float(f1),
        }
    return scores


def per_name_scores(
    y_true: np.ndarray, y_pred: np.ndarray, ids: list[int], names: list[str]
) -> dict[str, dict[str, Any]]:
    """Precision, recall, F1 and support of each class or label, keyed by its name."""
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=ids, average=None, zero_division=0
    )
    return {
        name: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(support[i]),
        }
        for i, name in enumerate(names)
    }
