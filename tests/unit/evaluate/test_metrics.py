"""Classification metrics and ECE pinned against hand-worked examples and scikit-learn."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score, precision_score, recall_score

from tuneforge.evaluate import (
    classification_metrics,
    expected_calibration_error,
    higher_is_better,
    multilabel_metrics,
    ner_metrics,
    regression_metrics,
)


def _one_hot(indices: list[int], num_classes: int) -> np.ndarray:
    return np.eye(num_classes)[indices]


def _assert_plain_json(value: object) -> None:
    """Only Python dicts, lists, str, int, float, bool and None: no numpy scalars anywhere."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert type(key) is str
            _assert_plain_json(item)
    elif isinstance(value, list):
        for item in value:
            _assert_plain_json(item)
    else:
        assert value is None or type(value) in (str, int, float, bool), type(value)


# --- classification -------------------------------------------------------------------------


def test_metrics_classification_perfect_predictions_score_one() -> None:
    labels = np.array([0, 1, 2, 1])
    result = classification_metrics(labels, _one_hot([0, 1, 2, 1], 3), ["a", "b", "c"])
    for average in ("macro", "micro", "weighted"):
        for score in ("precision", "recall", "f1"):
            assert result[f"{average}_{score}"] == 1.0
    assert result["accuracy"] == 1.0
    assert result["expected_calibration_error"] == 0.0  # one-hot and right: confidence = accuracy
    assert result["confusion_matrix"]["matrix"] == [[1, 0, 0], [0, 2, 0], [0, 0, 1]]
    assert result["num_examples"] == 4


def test_metrics_classification_matches_hand_computed_confusion() -> None:
    # true a a b b c c, predicted a b b b c a.
    # Confusion (rows true): a [1 1 0], b [0 2 0], c [1 0 1].
    # a: P 1/2 R 1/2 F1 1/2; b: P 2/3 R 1 F1 0.8; c: P 1 R 1/2 F1 2/3; accuracy 4/6.
    labels = np.array([0, 0, 1, 1, 2, 2])
    result = classification_metrics(labels, _one_hot([0, 1, 1, 1, 2, 0], 3), ["a", "b", "c"])
    assert result["confusion_matrix"] == {
        "labels": ["a", "b", "c"],
        "matrix": [[1, 1, 0], [0, 2, 0], [1, 0, 1]],
    }
    assert result["per_class"]["b"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["micro_f1"] == pytest.approx(4 / 6)  # single-label: micro = accuracy
    assert result["macro_precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert result["macro_recall"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    assert result["macro_f1"] == pytest.approx((1 / 2 + 0.8 + 2 / 3) / 3)
    assert result["weighted_f1"] == pytest.approx(result["macro_f1"])  # equal supports


def test_metrics_classification_absent_class_is_kept_but_not_averaged() -> None:
    # Class "c" is neither true nor predicted: it gets a row and a column, but no precision or
    # recall exists to average (a file of two of five classes scored perfectly is not 0.4).
    result = classification_metrics(np.array([0, 1]), _one_hot([0, 1], 3), ["a", "b", "c"])
    assert result["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    assert result["confusion_matrix"]["matrix"] == [[1, 0, 0], [0, 1, 0], [0, 0, 0]]
    assert result["macro_f1"] == 1.0 and result["micro_f1"] == 1.0
    # Predicted but never true: a real mistake, averaged in with its zero precision.
    wrong = classification_metrics(np.array([0, 1]), _one_hot([0, 2], 3), ["a", "b", "c"])
    assert wrong["macro_f1"] == pytest.approx((1 + 0 + 0) / 3)


def test_metrics_classification_matches_sklearn_on_random_data() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=200)
    probabilities = rng.dirichlet(np.ones(4), size=200)
    predictions = probabilities.argmax(axis=1)
    result = classification_metrics(labels, probabilities, list("abcd"))
    for average in ("macro", "micro", "weighted"):
        assert result[f"{average}_f1"] == pytest.approx(
            f1_score(labels, predictions, average=average)
        )
        assert result[f"{average}_precision"] == pytest.approx(
            precision_score(labels, predictions, average=average)
        )
        assert result[f"{average}_recall"] == pytest.approx(
            recall_score(labels, predictions, average=average)
        )


@pytest.mark.parametrize(
    ("labels", "probabilities"),
    [
        (np.array([0, 1]), np.ones((3, 2)) / 2),  # row counts differ
        (np.array([0, 1]), np.ones((2, 3)) / 3),  # more columns than names
        (np.array([0, 2]), np.ones((2, 2)) / 2),  # label out of range
        (np.array([], dtype=int), np.ones((0, 2))),  # nothing to score
    ],
)
def test_metrics_classification_rejects_bad_input(labels, probabilities) -> None:
    with pytest.raises(ValueError):
        classification_metrics(labels, probabilities, ["a", "b"])


# --- expected calibration error -------------------------------------------------------------


def test_metrics_ece_of_perfectly_calibrated_toy_is_zero() -> None:
    # Ten predictions at confidence 0.8, eight of them right: accuracy 0.8 = confidence 0.8.
    probabilities = np.tile([0.8, 0.2], (10, 1))
    labels = np.array([0] * 8 + [1] * 2)
    assert expected_calibration_error(probabilities, labels) == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize(
    ("probabilities", "labels", "num_bins", "expected"),
    [
        # Overconfident: 4 at confidence 0.9, 2 right -> one bin, |0.5 - 0.9| = 0.4.
        ([[0.9, 0.1]] * 4, [0, 0, 1, 1], 15, 0.4),
        # Two bins of 10: two at 0.95 both right -> |1 - 0.95| = 0.05, weight 2/5;
        # three at 0.65 one right -> |1/3 - 0.65| = 0.31667, weight 3/5;
        # ECE = 0.4 * 0.05 + 0.6 * 0.31667 = 0.02 + 0.19 = 0.21.
        ([[0.95, 0.05]] * 2 + [[0.65, 0.35]] * 3, [0, 0, 0, 1, 1], 10, 0.21),
        # Bins are right-closed (Guo et al. 2017): 0.5 falls in (0, 0.5], 0.75 in (0.5, 1].
        # 0.5 right -> 0.5 gap, 0.75 wrong -> 0.75 gap; ECE = 0.5 * 0.5 + 0.5 * 0.75 = 0.625.
        ([[0.5, 0.5], [0.25, 0.75]], [0, 0], 2, 0.625),
    ],
)
def test_metrics_ece_matches_hand_worked_examples(
    probabilities, labels, num_bins, expected
) -> None:
    ece = expected_calibration_error(np.array(probabilities), np.array(labels), num_bins)
    assert ece == pytest.approx(expected)


def test_metrics_ece_matches_direct_transcription_of_the_formula() -> None:
    # Reference: Guo et al. 2017, Eq. 3, written as a loop over bins ((m-1)/M, m/M].
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3) * 0.5, size=500)
    labels = rng.integers(0, 3, size=500)
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    reference = 0.0
    for m in range(1, 16):
        in_bin = (confidence > (m - 1) / 15) & (confidence <= m / 15)
        if in_bin.any():
            gap = abs(correct[in_bin].mean() - confidence[in_bin].mean())
            reference += in_bin.sum() / len(labels) * gap
    assert expected_calibration_error(probabilities, labels, 15) == pytest.approx(reference)


# --- shared ---------------------------------------------------------------------------------


def test_metrics_results_are_plain_json() -> None:
    results = [
        classification_metrics(np.array([0, 1]), np.array([[0.6, 0.4], [0.3, 0.7]]), ["a", "b"]),
        multilabel_metrics(
            np.array([[1, 0]]), np.array([[0.7, 0.2]]), ["x", "y"], np.array([0.5, 0.5])
        ),
        regression_metrics(np.array([1.0, 2.0]), np.array([1.0, 1.0])),
        ner_metrics([["B-PER", "O"]], [["B-PER", "O"]]),
    ]
    for result in results:
        _assert_plain_json(result)
        json.dumps(result, allow_nan=False)


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("macro_f1", True),
        ("r2", True),
        ("accuracy", True),
        ("mse", False),
        ("rmse", False),
        ("mae", False),
        ("loss", False),
        ("eval_loss", False),
        ("expected_calibration_error", False),
        ("hamming_loss", False),
    ],
)
def test_metrics_higher_is_better(metric, expected) -> None:
    assert higher_is_better(metric) is expected
