"""Regression and NER metrics pinned against hand-worked examples."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from tuneforge.evaluate import ner_metrics, regression_metrics

# --- regression -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("targets", "predictions", "expected"),
    [
        # y = x: no error, perfect fit and correlation.
        (
            [1.0, 2.0, 3.0, 4.0],
            [1.0, 2.0, 3.0, 4.0],
            {"mse": 0.0, "rmse": 0.0, "mae": 0.0, "r2": 1.0, "spearman": 1.0, "pearson": 1.0},
        ),
        # Constant prediction at the mean: errors 1.5, .5, .5, 1.5 -> mse 5/4, mae 1, r2 0;
        # correlation with a constant is undefined.
        (
            [1.0, 2.0, 3.0, 4.0],
            [2.5, 2.5, 2.5, 2.5],
            {
                "mse": 1.25,
                "rmse": math.sqrt(1.25),
                "mae": 1.0,
                "r2": 0.0,
                "spearman": None,
                "pearson": None,
            },
        ),
        # Swapped pair: SS_res 2 = SS_tot 2 -> r2 0; rho = 1 - 6*2/(3*8) = 0.5; pearson 0.5 too.
        (
            [1.0, 2.0, 3.0],
            [1.0, 3.0, 2.0],
            {
                "mse": 2 / 3,
                "rmse": math.sqrt(2 / 3),
                "mae": 2 / 3,
                "r2": 0.0,
                "spearman": 0.5,
                "pearson": 0.5,
            },
        ),
    ],
)
def test_metrics_regression_matches_hand_computed_values(targets, predictions, expected) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # constant inputs must not reach scipy's warning
        result = regression_metrics(np.array(targets), np.array(predictions))
    for name, value in expected.items():
        assert result[name] == (None if value is None else pytest.approx(value)), name
    assert result["num_examples"] == len(targets)


def test_metrics_regression_single_example_has_no_r2_or_correlation() -> None:
    result = regression_metrics(np.array([1.0]), np.array([2.0]))
    assert (result["mse"], result["r2"], result["spearman"], result["pearson"]) == (
        1.0,
        None,
        None,
        None,
    )


# --- NER ------------------------------------------------------------------------------------

_GOLD = [["B-PER", "I-PER", "O", "B-LOC"]]


@pytest.mark.parametrize(
    ("predicted", "precision", "recall", "f1"),
    [
        (["B-PER", "I-PER", "O", "B-LOC"], 1.0, 1.0, 1.0),
        # PER cut short: strict matching gives no credit for a partial span.
        (["B-PER", "O", "O", "B-LOC"], 0.5, 0.5, 0.5),
        # PER too long.
        (["B-PER", "I-PER", "I-PER", "B-LOC"], 0.5, 0.5, 0.5),
        # PER span right, type wrong.
        (["B-LOC", "I-LOC", "O", "B-LOC"], 0.5, 0.5, 0.5),
        # Entity opened by I-: invalid in strict IOB2, so only LOC is predicted (P 1, R 1/2);
        # lenient conlleval mode would accept it and give 1.0.
        (["I-PER", "I-PER", "O", "B-LOC"], 1.0, 0.5, 2 / 3),
    ],
)
def test_metrics_ner_uses_strict_entity_matching(predicted, precision, recall, f1) -> None:
    result = ner_metrics(_GOLD, [predicted])
    assert (result["precision"], result["recall"], result["f1"]) == pytest.approx(
        (precision, recall, f1)
    )


def test_metrics_ner_reports_per_type_and_token_accuracy() -> None:
    result = ner_metrics(_GOLD, [["B-PER", "O", "O", "B-LOC"]])
    assert result["per_type"] == {
        "LOC": {"precision": 1.0, "recall": 1.0, "f1": 1.0, "support": 1},
        "PER": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1},
    }
    assert result["macro_f1"] == 0.5
    assert result["accuracy"] == 0.75  # 3 of 4 tokens
    assert result["num_sentences"] == 1


def test_metrics_ner_without_entities_scores_zero_quietly() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = ner_metrics([["O", "O"]], [["O", "O"]])
    assert (result["f1"], result["macro_f1"], result["accuracy"], result["per_type"]) == (
        0.0,
        0.0,
        1.0,
        {},
    )


def test_metrics_ner_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        ner_metrics(_GOLD, [["O", "O"]])
