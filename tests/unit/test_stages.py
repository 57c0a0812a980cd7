"""The pipeline's stages on their own: prepare_data, build_model, fine_tune in memory (no run
folder, no test split), evaluate_model, the quality guardrails, and repeated runs in one process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import torch
from _configs import tiny_config, write_yaml

import tuneforge
from tuneforge.config import config_from_dict
from tuneforge.pipeline import (
    build_model,
    check_quality,
    evaluate_model,
    fine_tune,
    prepare_data,
)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("stages")
    config = config_from_dict(tiny_config(folder / "runs"), source="test")
    return config, prepare_data(config), folder


def test_stages_fine_tune_returns_validation_metrics_and_writes_nothing(
    prepared, monkeypatch
) -> None:
    config, data, folder = prepared
    work = folder / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    test_features_before = [dict(feature) for feature in data.features["test"]]

    result = fine_tune(build_model(config, data), data.task, data, config, show_progress=False)

    assert result.validation is not None and result.validation["num_examples"] == 10
    assert 0.0 <= result.validation["macro_f1"] <= 1.0 and "loss" in result.validation
    assert result.state.finished and result.state.global_step == 5  # 80 rows, batches of 16
    assert os.listdir(work) == [] and not (folder / "runs").exists()
    assert data.features["test"] == test_features_before
    # The validation metrics are those of the returned (best) weights.
    again = evaluate_model(
        result.model, data.task, data, "validation", config, result.precision, result.metadata
    )
    assert again.metrics["macro_f1"] == result.validation["macro_f1"]


def test_stages_fine_tune_takes_a_custom_step_and_optimizer(prepared) -> None:
    """What a private or adversarial feature plugs in through the stage, not the loop."""
    from tuneforge.training.steps import forward_backward

    config, data, _ = prepared
    calls = {"steps": 0, "optimizers": 0}

    def counting_step(micro_batch):
        calls["steps"] += 1
        return forward_backward(micro_batch)

    def frozen_optimizer(model, training_config):
        calls["optimizers"] += 1
        return torch.optim.SGD(model.parameters(), lr=0.0)

    model = build_model(config, data)
    before = {name: value.clone() for name, value in model.state_dict().items()}
    result = fine_tune(
        model,
        data.task,
        data,
        config,
        show_progress=False,
        training_step=counting_step,
        optimizer_factory=frozen_optimizer,
    )

    assert calls == {"steps": 5, "optimizers": 1}
    after = result.model.state_dict()
    assert all(torch.equal(before[name], after[name]) for name in before)  # lr 0: unchanged


def test_stages_guardrail_fires_on_a_collapsed_model(prepared) -> None:
    config, data, _ = prepared
    model = build_model(config, data)
    # Collapse by hand: a head that scores class 0 far above the others for every input.
    with torch.no_grad():
        model.classifier.weight.zero_()
        model.classifier.bias.copy_(torch.tensor([10.0, 0.0, 0.0, 0.0, 0.0]))
    scored = evaluate_model(model, data.task, data, "test", config, "fp32")

    baselines, warnings = check_quality(data, "test", scored.metrics, config)

    assert set(baselines) == {"majority", "tfidf_logreg"}
    codes = [warning.code for warning in warnings]
    assert "single_class_collapse" in codes and "below_majority_baseline" in codes
    collapse = next(w for w in warnings if w.code == "single_class_collapse")
    assert "100.0%" in collapse.message and "class_weighting" in collapse.advice
    # BBC articles are far longer than this config's window, where TF-IDF reads them whole.
    below_tfidf = next(w for w in warnings if w.code == "below_tfidf_baseline")
    assert below_tfidf.advice.startswith("the model read only the first ")
    assert "set model.long_text: chunks" in below_tfidf.advice


def test_stages_run_writes_baselines_warnings_weighting_and_reliability(tmp_path: Path) -> None:
    raw = tiny_config(tmp_path / "runs", training={"class_weighting": "balanced"})
    config_path = write_yaml(tmp_path / "config.yaml", raw)
    result = tuneforge.train(config_path, show_progress=False)

    metrics = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["baselines"]["split"] == "test"
    assert {"majority", "tfidf_logreg"} <= set(metrics["baselines"])
    assert isinstance(metrics["quality_warnings"], list)
    weighting = metrics["training"]["class_weighting"]
    assert weighting["mode"] == "balanced" and weighting["applied"]
    assert set(weighting["weights"]) == {"business", "entertainment", "politics", "sports", "tech"}
    assert (result.run_dir / "reliability_diagram.png").stat().st_size > 10_000
    card = (result.run_dir / "model_card.md").read_text(encoding="utf-8")
    assert "## Baselines (test split" in card and "TF-IDF + logistic regression" in card


def test_stages_fp32_then_bf16_train_in_one_process(tmp_path: Path) -> None:
    threads = torch.get_num_threads()
    for precision in ("fp32", "bf16"):
        raw = tiny_config(
            tmp_path / "runs",
            training={"precision": precision, "max_steps": 2},
            output={"run_name": precision},
        )
        result = tuneforge.train(write_yaml(tmp_path / f"{precision}.yaml", raw))
        info = json.loads((result.run_dir / "model" / "tuneforge.json").read_text("utf-8"))
        assert info["precision"] == precision
    # A library call hands the process back as it found it.
    assert torch.get_num_threads() == threads
