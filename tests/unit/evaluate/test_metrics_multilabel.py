"""Multi-label metrics and threshold tuning pinned against hand-worked examples."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from tuneforge.evaluate import multilabel_metrics, tune_thresholds

# --- multilabel -----------------------------------------------------------------------------


def test_metrics_multilabel_perfect_predictions_score_one() -> None:
    labels = np.array([[1, 0], [0, 1], [1, 1]])
    result = multilabel_metrics(labels, labels.astype(float), ["x", "y"], np.array([0.5, 0.5]))
    for average in ("micro", "macro", "weighted", "samples"):
        assert result[f"{average}_f1"] == 1.0
    assert result["subset_accuracy"] == 1.0
    assert result["hamming_loss"] == 0.0


def test_metrics_multilabel_matches_hand_computed_example() -> None:
    # true [[1,0],[1,1],[0,1]]; p >= threshold gives predicted [[1,1],[1,0],[0,1]].
    # x: TP 2 FP 0 FN 0 -> 1.0; y: TP 1 FP 1 FN 1 -> 0.5; micro TP 3 FP 1 FN 1 -> 0.75.
    # Rows: P/R/F1 (1/2, 1, 2/3), (1, 1/2, 2/3), (1, 1, 1) -> samples F1 7/9, samples P 5/6.
    # Exact rows: only the last -> 1/3; wrong cells 2 of 6 -> hamming 1/3.
    labels = np.array([[1, 0], [1, 1], [0, 1]])
    probabilities = np.array([[0.9, 0.6], [0.7, 0.2], [0.1, 0.4]])
    thresholds = np.array([0.5, 0.4])  # 0.4 >= 0.4: the cut is inclusive
    result = multilabel_metrics(labels, probabilities, ["x", "y"], thresholds)
    assert result["per_label"]["x"]["f1"] == 1.0
    assert result["per_label"]["y"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2, "threshold": 0.4}
    )
    assert result["micro_f1"] == pytest.approx(0.75)
    assert result["macro_f1"] == pytest.approx(0.75)
    assert result["samples_f1"] == pytest.approx(7 / 9)
    assert result["samples_precision"] == pytest.approx(5 / 6)
    assert result["subset_accuracy"] == pytest.approx(1 / 3)
    assert result["hamming_loss"] == pytest.approx(1 / 3)
    assert result["num_examples"] == 3


@pytest.mark.parametrize(
    ("positives", "negatives", "expected"),
    [
        ([0.3, 0.4], [0.1, 0.2], 0.25),  # separable below 0.5: midpoint of the gap
        ([0.9, 0.95], [0.05, 0.6], 0.75),  # separable above 0.5
        ([0.2, 0.3], [], 0.1),  # all positive: below the lowest, down to 0
    ],
)
def test_metrics_tune_thresholds_separates_separable_data(positives, negatives, expected) -> None:
    # Second label: a copy of the first, so both must come out the same.
    labels = np.array([[1, 1]] * len(positives) + [[0, 0]] * len(negatives))
    probabilities = np.array([[p, p] for p in positives + negatives])
    thresholds = tune_thresholds(labels, probabilities)
    assert thresholds == pytest.approx([expected, expected])
    result = multilabel_metrics(labels, probabilities, ["x", "y"], thresholds)
    assert result["micro_f1"] == 1.0
    assert result["subset_accuracy"] == 1.0


def test_metrics_multilabel_rejects_a_single_label() -> None:
    with pytest.raises(ValueError, match="two labels"):
        multilabel_metrics(np.array([[1]]), np.array([[0.9]]), ["x"], np.array([0.5]))


def test_metrics_tune_thresholds_keeps_half_for_labels_without_positives() -> None:
    labels = np.array([[1, 0], [0, 0]])
    probabilities = np.array([[0.3, 0.9], [0.1, 0.8]])
    assert tune_thresholds(labels, probabilities) == pytest.approx([0.2, 0.5])


def test_metrics_tune_thresholds_beats_every_grid_threshold() -> None:
    # Reference: sklearn f1_score at each cut of a fine grid; the tuned cut is never worse.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=(300, 3))
    probabilities = np.clip(0.35 * labels + rng.uniform(0, 0.65, size=(300, 3)), 0, 1)
    tuned = tune_thresholds(labels, probabilities)
    for column in range(3):
        tuned_f1 = f1_score(labels[:, column], probabilities[:, column] >= tuned[column])
        grid_f1 = [
            f1_score(labels[:, column], probabilities[:, column] >= cut, zero_division=0)
            for cut in np.linspace(0.0, 1.0, 201)
        ]
        assert tuned_f1 >= max(grid_f1) - 1e-12
