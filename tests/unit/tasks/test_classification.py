"""Single-label classification task: labels, head, encoding, metrics and predictions."""

from __future__ import annotations

import numpy as np
import pytest

from tuneforge.data.records import Record
from tuneforge.tasks import classification

NAMES = ["business", "sport", "tech"]
RECORDS = [
    Record("Shares fell sharply on Monday.", "business", "a:1"),
    Record("The striker scored twice.", "sport", "a:2"),
    Record("A new phone was unveiled.", "tech", "a:3"),
    Record("The bank raised interest rates.", "business", "a:4"),
]


def test_classification_label_names_sorted_or_declared():
    assert classification.label_names(RECORDS, None) == NAMES
    assert classification.label_names(RECORDS, ["tech", "sport", "business"]) == [
        "tech",
        "sport",
        "business",
    ]


def test_classification_head_config():
    head = classification.head_config(NAMES, {})

    assert head["num_labels"] == 3
    assert head["id2label"] == {0: "business", 1: "sport", 2: "tech"}
    assert head["label2id"] == {"business": 0, "sport": 1, "tech": 2}
    assert head["problem_type"] == "single_label_classification"


def test_classification_encode_labels_and_truncation(tokenizer):
    long_record = Record(" ".join(["market"] * 40), "business", "a:5")
    unlabelled = Record("Who won the match?", None, "a:6")

    features = classification.encode([*RECORDS, long_record, unlabelled], tokenizer, NAMES, 8, {})

    assert [feature["labels"] for feature in features[:5]] == [0, 1, 2, 0, 0]
    assert "labels" not in features[5]
    assert len(features[4]["input_ids"]) == 8
    assert features[4]["input_ids"][-1] == tokenizer.sep_token_id
    assert features[1]["input_ids"] == tokenizer(RECORDS[1].text)["input_ids"]
    assert set(features[0]) == {"input_ids", "attention_mask", "token_type_ids", "labels"}


def _one_hot_logits(labels: list[int], scale: float = 6.0) -> np.ndarray:
    return np.eye(len(NAMES))[labels] * scale


def test_classification_compute_metrics_perfect_and_wrong(tokenizer, make_config):
    features = classification.encode(RECORDS, tokenizer, NAMES, 32, {})
    labels = [feature["labels"] for feature in features]
    config = make_config("classification")

    perfect = classification.compute_metrics(
        _one_hot_logits(labels), RECORDS, features, NAMES, {}, config
    )
    shifted = [(label + 1) % 3 for label in labels]
    wrong = classification.compute_metrics(
        _one_hot_logits(shifted), RECORDS, features, NAMES, {}, config
    )

    assert perfect["accuracy"] == 1.0
    assert perfect["macro_f1"] == 1.0
    assert perfect["num_examples"] == 4
    assert wrong["accuracy"] == 0.0
    assert wrong["macro_f1"] == 0.0


def test_classification_predict_fields():
    logits = np.array([[0.0, 2.0, 0.0], [1.0, 0.0, -1.0]])

    predictions = classification.predict(logits, ["a", "b"], [], NAMES, {})

    assert [prediction["label"] for prediction in predictions] == ["sport", "business"]
    first = predictions[0]
    assert set(first) == {"label", "score", "probabilities"}
    assert list(first["probabilities"]) == NAMES
    assert sum(first["probabilities"].values()) == pytest.approx(1.0)
    assert first["score"] == pytest.approx(np.exp(2.0) / (np.exp(2.0) + 2.0))
    assert first["score"] == first["probabilities"]["sport"]
