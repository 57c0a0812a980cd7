"""Regression task: standardised targets for training, predictions in the original unit."""

from __future__ import annotations

import numpy as np
import pytest

from tuneforge.data.records import Record
from tuneforge.tasks import regression

TARGETS = [1.0, 2.0, 4.0, 5.0, 3.0]
RECORDS = [Record(f"A review rated {value}.", value, f"r:{i}") for i, value in enumerate(TARGETS)]


def test_regression_label_names_and_head_config():
    assert regression.label_names(RECORDS, ["ignored"]) == ["value"]
    head = regression.head_config(["value"], {})
    assert head["num_labels"] == 1
    assert head["problem_type"] == "regression"
    assert head["id2label"] == {0: "value"}


def test_regression_fit_metadata_mean_and_std():
    metadata = regression.fit_metadata(RECORDS, ["value"])

    assert metadata["target_mean"] == pytest.approx(3.0)
    assert metadata["target_std"] == pytest.approx(np.sqrt(2.0))
    constant = [Record("x", 7.0, "r:c"), Record("y", 7.0, "r:d")]
    assert regression.fit_metadata(constant, ["value"]) == {"target_mean": 7.0, "target_std": 1.0}


def test_regression_standardisation_round_trips(tokenizer):
    metadata = regression.fit_metadata(RECORDS, ["value"])

    features = regression.encode(RECORDS, tokenizer, ["value"], 32, metadata)
    standardised = np.array([feature["labels"] for feature in features])

    assert all(isinstance(feature["labels"], float) for feature in features)
    assert standardised.mean() == pytest.approx(0.0, abs=1e-12)
    assert standardised.std() == pytest.approx(1.0)
    np.testing.assert_allclose(
        regression.to_original_unit(standardised[:, None], metadata), TARGETS
    )
    predictions = regression.predict(standardised[:, None], [""] * 5, features, ["value"], metadata)
    assert [prediction["value"] for prediction in predictions] == pytest.approx(TARGETS)


def test_regression_compute_metrics_in_original_unit(tokenizer, make_config):
    metadata = regression.fit_metadata(RECORDS, ["value"])
    features = regression.encode(RECORDS, tokenizer, ["value"], 32, metadata)
    perfect = np.array([[feature["labels"]] for feature in features])
    config = make_config("regression")

    exact = regression.compute_metrics(perfect, RECORDS, features, ["value"], metadata, config)
    # Off by half a standard deviation everywhere: the error is reported in the target's unit.
    shifted = regression.compute_metrics(
        perfect + 0.5, RECORDS, features, ["value"], metadata, config
    )

    assert exact["r2"] == pytest.approx(1.0)
    assert exact["mse"] == pytest.approx(0.0, abs=1e-12)
    assert exact["spearman"] == pytest.approx(1.0)
    assert shifted["mae"] == pytest.approx(0.5 * np.sqrt(2.0))


def test_regression_encode_unlabelled_has_no_labels(tokenizer):
    metadata = {"target_mean": 3.0, "target_std": 2.0}

    features = regression.encode(
        [Record("No score yet.", None, "r:x")], tokenizer, [], 32, metadata
    )

    assert "labels" not in features[0]
