"""Temperature scaling: the fit recovers the temperature that made logits overconfident, never
changes a predicted class, and a run with evaluation.calibration applies it everywhere scores
are made (test metrics, the saved predictor) and says what it did."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tuneforge.config import config_from_dict
from tuneforge.errors import ConfigError
from tuneforge.evaluate.temperature import MIN_EXAMPLES, fit_temperature, negative_log_likelihood


def _calibrated_logits(rows: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits whose softmax is calibrated: each label is drawn from softmax(logits)."""
    generator = np.random.default_rng(seed)
    logits = generator.normal(0.0, 2.0, (rows, 4))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    labels = np.array([generator.choice(4, p=row) for row in probabilities])
    return logits, labels


def test_fit_recovers_the_temperature_of_overconfident_logits() -> None:
    logits, labels = _calibrated_logits(4000)
    fitted = fit_temperature(logits * 3.0, labels)  # three times too confident
    assert fitted["temperature"] == pytest.approx(3.0, rel=0.08)
    assert fitted["nll_after"] < fitted["nll_before"]
    assert fitted["ece_after"] < fitted["ece_before"] / 3
    assert fitted["nll_after"] == pytest.approx(
        negative_log_likelihood(logits * 3.0, labels, fitted["temperature"]), abs=1e-6
    )
    # Already calibrated logits keep a temperature near 1; a too-small split is left alone.
    assert fit_temperature(logits, labels)["temperature"] == pytest.approx(1.0, rel=0.08)
    few = fit_temperature(logits[: MIN_EXAMPLES - 1], labels[: MIN_EXAMPLES - 1])
    assert few["temperature"] == 1.0 and "fewer than" in few["skipped"]


def test_calibrated_run_scales_its_scores_but_not_its_classes(tmp_path: Path) -> None:
    from _configs import tiny_config

    from tuneforge.pipeline import run
    from tuneforge.predict import load_predictor

    raw = tiny_config(
        tmp_path / "runs",
        data={"max_examples": 200},
        training={"learning_rate": 1e-3, "epochs": 2},
        evaluation={"calibration": "temperature"},
    )
    result = run(config_from_dict(raw, config_dir=str(tmp_path)))
    metrics = json.loads((result.run_dir / "metrics.json").read_text())
    calibration = metrics["calibration"]
    assert calibration["examples"] == metrics["validation"]["num_examples"] == 20
    temperature = calibration["temperature"]
    assert temperature != 1.0 and calibration["nll_after"] <= calibration["nll_before"]
    card = (result.run_dir / "model_card.md").read_text()
    assert f"Calibration: temperature {temperature:.3g} fitted on 20 validation examples" in card

    predictor = load_predictor(result.run_dir)
    assert predictor.metadata["temperature"] == temperature
    texts = ["Shares fell after the results.", "The striker scored twice in the final."]
    records = [predictor.task.unlabelled_record(text, i) for i, text in enumerate(texts)]
    logits = np.asarray(predictor.logits(records)[0], dtype=np.float64)
    predictions = predictor.predict(texts)
    for prediction, row in zip(predictions, logits, strict=True):
        scaled = np.exp(row / temperature) / np.exp(row / temperature).sum()
        assert prediction["label"] == predictor.label_names[int(row.argmax())]
        assert prediction["score"] == pytest.approx(float(scaled.max()), rel=1e-5)
    # Explanations score what predict reports: the calibrated probabilities.
    from tuneforge.explain.model import load_explain_model

    explained = load_explain_model(result.run_dir).scores_of_texts(texts)
    for prediction, scores in zip(predictions, explained, strict=True):
        assert float(scores.max()) == pytest.approx(prediction["score"], rel=1e-4)


def test_calibration_is_for_single_label_classification() -> None:
    with pytest.raises(ConfigError, match="temperature scaling calibrates one softmax"):
        config_from_dict(
            {"task": {"type": "multilabel"}, "evaluation": {"calibration": "temperature"}}
        )
