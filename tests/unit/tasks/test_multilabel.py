"""Multi-label task: multi-hot encoding, per-label thresholds from validation, predictions."""

from __future__ import annotations

import numpy as np
import pytest

from tuneforge.data.records import Record
from tuneforge.tasks import multilabel

NAMES = ["billing", "refund"]
RECORDS = [
    Record("I was charged twice.", ("billing",), "v:1"),
    Record("Charged twice, please refund me.", ("billing", "refund"), "v:2"),
    Record("I want my money back.", ("refund",), "v:3"),
    Record("How do I change my password?", (), "v:4"),
]
# Billing positives sit at 0.35 and 0.30, negatives at or below 0.1: the best cut is 0.30 and the
# tuned threshold the midpoint to the next lower probability, (0.30 + 0.10) / 2 = 0.2. Refund:
# positives 0.9, 0.8, highest negative 0.6 -> (0.8 + 0.6) / 2 = 0.7.
PROBABILITIES = np.array([[0.35, 0.2], [0.30, 0.9], [0.1, 0.8], [0.05, 0.6]])
LOGITS = np.log(PROBABILITIES / (1 - PROBABILITIES))


def test_multilabel_label_names_union_or_declared():
    assert multilabel.label_names(RECORDS, None) == NAMES
    assert multilabel.label_names(RECORDS, ["refund", "billing", "other"]) == [
        "refund",
        "billing",
        "other",
    ]


def test_multilabel_head_config():
    head = multilabel.head_config(NAMES, {})

    assert head["num_labels"] == 2
    assert head["id2label"] == {0: "billing", 1: "refund"}
    assert head["problem_type"] == "multi_label_classification"


def test_multilabel_encode_multi_hot(tokenizer):
    features = multilabel.encode(RECORDS, tokenizer, NAMES, 32, {})

    assert [feature["labels"] for feature in features] == [
        [1.0, 0.0],
        [1.0, 1.0],
        [0.0, 1.0],
        [0.0, 0.0],
    ]
    assert all(isinstance(value, float) for value in features[0]["labels"])


def test_multilabel_tune_metadata_sets_thresholds(tokenizer, make_config):
    config = make_config("multilabel")
    features = multilabel.encode(RECORDS, tokenizer, NAMES, 32, {})
    metadata = multilabel.fit_metadata(RECORDS, NAMES)

    untuned = multilabel.compute_metrics(LOGITS, RECORDS, features, NAMES, metadata, config)
    tuned_metadata = multilabel.tune_metadata(LOGITS, RECORDS, NAMES, metadata, config)
    tuned = multilabel.compute_metrics(LOGITS, RECORDS, features, NAMES, tuned_metadata, config)

    assert metadata == {"thresholds": None}
    np.testing.assert_allclose(tuned_metadata["thresholds"], [0.2, 0.7])
    assert untuned["micro_f1"] < 1.0
    assert tuned["micro_f1"] == 1.0
    assert tuned["subset_accuracy"] == 1.0
    assert tuned["per_label"]["refund"]["threshold"] == pytest.approx(0.7)


def test_multilabel_predict_uses_tuned_thresholds():
    metadata = {"thresholds": [0.2, 0.7]}

    predictions = multilabel.predict(LOGITS, ["a"] * 4, [], NAMES, metadata)

    assert [prediction["labels"] for prediction in predictions] == [
        ["billing"],
        ["billing", "refund"],
        ["refund"],
        [],
    ]
    assert predictions[1]["probabilities"] == pytest.approx({"billing": 0.30, "refund": 0.9})


def test_multilabel_configured_threshold_reaches_predict(tokenizer, make_config):
    # With tuning off, the configured threshold is what the metrics use; the saved predictor must
    # apply the same cut, not a hard-coded 0.5.
    config = make_config("multilabel", tune_thresholds=False, threshold=0.25)
    features = multilabel.encode(RECORDS, tokenizer, NAMES, 32, {})

    metadata = multilabel.tune_metadata(
        LOGITS, RECORDS, NAMES, multilabel.fit_metadata(RECORDS, NAMES), config
    )
    metrics = multilabel.compute_metrics(LOGITS, RECORDS, features, NAMES, metadata, config)
    predictions = multilabel.predict(LOGITS, ["a"] * 4, features, NAMES, metadata)

    assert metadata["thresholds"] == [0.25, 0.25]
    assert predictions[0]["labels"] == ["billing"]  # p = 0.35: above 0.25, below 0.5
    for name in NAMES:
        flagged = [
            record for record, p in zip(RECORDS, predictions, strict=True) if name in p["labels"]
        ]
        correct = sum(name in record.label for record in flagged)
        assert metrics["per_label"][name]["precision"] == pytest.approx(correct / len(flagged))
    assert metrics["per_label"]["refund"]["precision"] == pytest.approx(2 / 3)


def test_multilabel_perfect_logits_score_one(tokenizer, make_config):
    features = multilabel.encode(RECORDS, tokenizer, NAMES, 32, {})
    logits = (np.array([feature["labels"] for feature in features]) * 2 - 1) * 5.0

    metrics = multilabel.compute_metrics(
        logits, RECORDS, features, NAMES, {"thresholds": None}, make_config("multilabel")
    )

    assert metrics["micro_f1"] == 1.0
    assert metrics["macro_f1"] == 1.0
    assert metrics["hamming_loss"] == 0.0
