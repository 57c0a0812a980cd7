"""Attributions for every sequence-level task; a NER run has no single score per text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tuneforge.errors import ExplainError
from tuneforge.explain.attributions import ExplainSettings, explain_text
from tuneforge.explain.model import ExplainModel

NAMES = {"multilabel": ["a", "b", "c"], "regression": ["value"], "ner": ["O", "B-x", "I-x"]}


def _model(minilm_path: Path, task_type: str) -> ExplainModel:
    from tuneforge.modeling import load_task_model, load_tokenizer
    from tuneforge.predict import Predictor
    from tuneforge.tasks import get_task

    torch.manual_seed(0)
    names = NAMES[task_type]
    # A target of mean 50 and spread 10: what is explained is standardised, what is reported not.
    metadata = {"target_mean": 50.0, "target_std": 10.0} if task_type == "regression" else {}
    task = get_task(task_type)
    model = load_task_model(task, str(minilm_path), names, metadata, num_hidden_layers=1)
    predictor = Predictor(
        model=model.eval(),
        tokenizer=load_tokenizer(str(minilm_path)),
        task_type=task_type,
        label_names=names,
        metadata=metadata,
        max_seq_length=32,
        device=torch.device("cpu"),
    )
    return ExplainModel(predictor=predictor)


@pytest.mark.parametrize("task_type", ["multilabel", "regression"])
def test_tasks_sequence_level_runs_are_explained(minilm_path: Path, task_type: str) -> None:
    model = _model(minilm_path, task_type)
    settings = ExplainSettings(n_steps=8, lime_samples=40)
    result = explain_text(model, "Shares rose at the bank.", ["ig", "lime"], "all", settings)
    assert set(result["attributions"]["ig"]["targets"]) == set(NAMES[task_type])
    for method in ("ig", "lime"):
        for scores in result["attributions"][method]["targets"].values():
            assert len(scores) == len(result["words"]) and np.isfinite(scores).all()
    if task_type == "multilabel":  # independent sigmoids, not a distribution
        assert 0 < sum(result["scores"].values()) < 3
    else:  # the value `predict` gives, in the target's units
        value = model.predictor.predict(["Shares rose at the bank."])[0]["value"]
        assert result["prediction"]["score"] == pytest.approx(value, rel=1e-4)
        assert result["scores"]["value"] == result["prediction"]["score"]


def test_tasks_ner_has_no_score_per_text_but_spans_explain(minilm_path: Path) -> None:
    model = _model(minilm_path, "ner")
    with pytest.raises(ExplainError, match=r"NER run has no single score per text"):
        model.predictor.task.explained_scores(torch.zeros(1, 3))
    # An untrained head tags at random: whatever spans it finds are explained word by word.
    settings = ExplainSettings(n_steps=8, lime_samples=40, shap_max_evals=40)
    result = explain_text(
        model, "Alice flew to Paris on Monday", ["ig", "lime", "shap"], None, settings
    )
    keys = [entity["key"] for entity in result["prediction"]["entities"]]
    assert set(result["scores"]) == set(keys)
    for attribution in result["attributions"].values():
        assert list(attribution["targets"]) == keys
        for scores in attribution["targets"].values():
            assert len(scores) == len(result["words"]) == 6 and np.isfinite(scores).all()
