"""Every method ranks the word the toy model decides on first; IG is complete."""

from __future__ import annotations

import numpy as np
import pytest

from tuneforge.errors import ExplainError
from tuneforge.explain.attributions import ExplainSettings, explain_text, resolve_targets
from tuneforge.explain.ig import integrated_gradients

from ._toy import TRIGGER, toy_texts

SETTINGS = ExplainSettings(n_steps=32, lime_samples=300, shap_max_evals=200)


def test_toy_model_learned_the_rule(toy_model) -> None:
    rows = toy_texts(64, seed=7)
    scores = toy_model.scores_of_texts([text for text, _ in rows])
    accuracy = np.mean(scores.argmax(axis=1) == np.array([label for _, label in rows]))
    assert accuracy == 1.0


@pytest.mark.parametrize("method", ["ig", "lime", "shap"])
def test_attributions_rank_the_deciding_word_first(toy_model, method: str) -> None:
    for text, label in toy_texts(8, seed=3):
        if not label:
            continue
        result = explain_text(toy_model, text, [method], settings=SETTINGS)
        assert result["prediction"]["label"] == "praise"
        scores = result["attributions"][method]["targets"]["praise"]
        assert result["words"][int(np.argmax(scores))] == TRIGGER, (method, text, scores)


def test_attributions_ig_is_complete_within_its_delta(minilm_model) -> None:
    # Completeness (Sundararajan et al. 2017): the attributions sum to F(x) - F(baseline), F the
    # target's logit and the baseline [PAD]s between [CLS] and [SEP]; the delta is the error.
    import torch

    encoded = minilm_model.encode("The match ended in a draw after extra time.")
    result = integrated_gradients(minilm_model, encoded, target=2, n_steps=64)
    net = minilm_model.differentiable()
    ids = torch.tensor([encoded.input_ids])
    special = torch.tensor([[w is None for w in encoded.word_of_token]])
    baseline = torch.where(special, ids, torch.zeros_like(ids))  # [PAD] is id 0
    with torch.no_grad():
        difference = float(net(input_ids=ids).logits[0, 2] - net(input_ids=baseline).logits[0, 2])
    total = float(result.token_scores.sum())
    assert abs(total - difference) == pytest.approx(result.convergence_delta, abs=1e-4)
    assert result.convergence_delta < 0.05 * np.abs(result.token_scores).sum()


def test_attributions_word_scores_sum_sub_tokens(toy_model) -> None:
    # "unbelievably" is several WordPiece tokens; IG's word score is their sum.
    encoded = toy_model.encode("unbelievably excellent")
    result = integrated_gradients(toy_model, encoded, target=1, n_steps=16)
    explained = explain_text(
        toy_model, "unbelievably excellent", ["ig"], settings=ExplainSettings(n_steps=16)
    )
    words = explained["attributions"]["ig"]["targets"]["praise"]
    first_word = [i for i, w in enumerate(encoded.word_of_token) if w == 0]
    assert len(first_word) > 1
    assert words[0] == pytest.approx(result.token_scores[first_word].sum(), abs=1e-5)
    assert explained["words"] == ["unbelievably", "excellent"]


def test_attributions_target_by_label_and_unknown_label(toy_model) -> None:
    scores = np.array([0.9, 0.1])
    assert resolve_targets(None, toy_model, scores) == [0]
    assert resolve_targets("praise", toy_model, scores) == [1]
    assert resolve_targets("all", toy_model, scores) == [0, 1]
    with pytest.raises(ExplainError, match="not a label"):
        resolve_targets("nope", toy_model, scores)


def test_attributions_hundred_texts_show_a_progress_bar(toy_model, monkeypatch) -> None:
    # `tuneforge explain --input` calls explain_texts with show_progress=True.
    import io

    from rich.console import Console

    from tuneforge import console as console_module
    from tuneforge.explain.attributions import explain_texts

    stream = io.StringIO()
    monkeypatch.setattr(
        console_module, "console", Console(file=stream, force_terminal=True, width=120)
    )
    texts = [text for text, _ in toy_texts(100, seed=5)]
    results = explain_texts(
        toy_model, texts, ["lime"], settings=ExplainSettings(lime_samples=10), show_progress=True
    )
    assert len(results) == 100
    shown = stream.getvalue()
    assert "explaining" in shown and "100/100" in shown and "━" in shown
