"""ERASER comprehensiveness and sufficiency against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tuneforge.explain.faithfulness import (
    RANDOM,
    aopc,
    erased_sequences,
    evaluate_faithfulness,
    ranking_of,
    summarize,
    text_faithfulness,
    words_in_bin,
)
from tuneforge.explain.words import EncodedText

# [CLS] w0 w1 w2 w3 [SEP]; word 0 is two sub-tokens (10, 14).
ENCODED = EncodedText(
    text="a b c d",
    input_ids=[101, 10, 14, 11, 12, 13, 102],
    word_of_token=[None, 0, 0, 1, 2, 3, None],
    word_spans=[(0, 1), (2, 3), (4, 5), (6, 7)],
)
WEIGHTS = {10: 0.5, 11: 0.2, 12: 0.1, 13: 0.0}


class AdditiveModel:
    """score = 0.1 + the weights of the tokens present: 0.9 for the whole text."""

    def scores_of_ids(self, sequences):
        return np.array([[0.1 + sum(WEIGHTS.get(t, 0.0) for t in ids)] for ids in sequences])


def test_faithfulness_words_in_bin_rounds_up_to_at_least_one() -> None:
    assert [words_in_bin(10, k) for k in (1, 5, 10, 20, 50)] == [1, 1, 1, 2, 5]
    assert [words_in_bin(4, k) for k in (1, 50)] == [1, 2]
    assert words_in_bin(3, 50) == 2
    assert words_in_bin(0, 50) == 0


def test_faithfulness_erasure_deletes_every_sub_token_and_keeps_specials() -> None:
    removed, kept = erased_sequences(ENCODED, [0, 1, 2, 3], bins=(20, 50))
    assert removed == [[101, 11, 12, 13, 102], [101, 12, 13, 102]]
    assert kept == [[101, 10, 14, 102], [101, 10, 14, 11, 102]]


def test_faithfulness_aopc_is_the_mean_drop() -> None:
    assert aopc(1.0, [0.5, 0.25]) == pytest.approx(0.625)
    assert ranking_of([0.1, 0.9, -2.0, 0.9]) == [1, 3, 0, 2]


def test_faithfulness_of_the_true_ranking_by_hand() -> None:
    # 4 words: bins 1/5/10/20% cover 1 word, 50% covers 2.
    # comprehensiveness: remove w0 -> 0.4 (drop 0.5) x4, remove w0,w1 -> 0.2 (drop 0.7): 2.7/5
    # sufficiency: keep w0 -> 0.6 (drop 0.3) x4, keep w0,w1 -> 0.8 (drop 0.1): 1.3/5
    result = text_faithfulness(
        AdditiveModel(), ENCODED, 0, {"true": [4, 3, 2, 1], "reverse": [1, 2, 3, 4]}
    )
    assert result.comprehensiveness["true"] == pytest.approx(0.54)
    assert result.sufficiency["true"] == pytest.approx(0.26)
    # reverse ranking: remove w3 -> 0.9 (0) x4, remove w3,w2 -> 0.8 (0.1): 0.1/5
    # keep w3 -> 0.1 (0.8) x4, keep w3,w2 -> 0.2 (0.7): 3.9/5
    assert result.comprehensiveness["reverse"] == pytest.approx(0.02)
    assert result.sufficiency["reverse"] == pytest.approx(0.78)
    assert result.deletion_curve["true"] == pytest.approx([0.9, 0.4, 0.4, 0.4, 0.4, 0.2])
    assert result.comprehensiveness["true"] > result.comprehensiveness[RANDOM] > 0.02


def test_faithfulness_summary_gains_are_against_random() -> None:
    per_text = [
        text_faithfulness(AdditiveModel(), ENCODED, 0, {"true": [4, 3, 2, 1]}, seed=s)
        for s in range(3)
    ]
    report = summarize(per_text, {"true": 3.0})
    row = report.methods["true"]
    assert row["comprehensiveness_gain"] == pytest.approx(
        0.54 - np.mean([t.comprehensiveness[RANDOM] for t in per_text])
    )
    assert row["sufficiency_gain"] == pytest.approx(row["sufficiency_random"] - 0.26)
    assert row["faithfulness"] > 0
    assert row["seconds_per_text"] == pytest.approx(1.0)
    assert report.ranked() == ["true"]


def test_faithfulness_on_the_toy_model_beats_random(toy_model) -> None:
    from tuneforge.explain.attributions import ExplainSettings

    from ._toy import toy_texts

    texts = [text for text, label in toy_texts(6, seed=5) if label]
    report = evaluate_faithfulness(
        toy_model, texts, ["ig", "lime"], ExplainSettings(n_steps=16, lime_samples=200)
    )
    for method in ("ig", "lime"):
        assert report.methods[method]["comprehensiveness_gain"] > 0.1
        assert report.methods[method]["sufficiency_gain"] > 0.1
    assert report.to_json()["ranking"][0] in {"ig", "lime"}


def test_faithfulness_partial_reports_cover_the_texts_done(toy_model) -> None:
    from tuneforge.explain.attributions import ExplainSettings

    from ._toy import toy_texts

    texts = [text for text, _ in toy_texts(5, seed=5)]
    partial: list = []
    settings = ExplainSettings(lime_samples=30)
    final = evaluate_faithfulness(
        toy_model, texts, ["lime"], settings, on_partial=partial.append, partial_every=2
    )
    assert [report.texts for report in partial] == [2, 4] and final.texts == 5
    first_two = evaluate_faithfulness(toy_model, texts[:2], ["lime"], settings)
    for key in ("comprehensiveness", "sufficiency", "faithfulness"):
        assert partial[0].methods["lime"][key] == pytest.approx(first_two.methods["lime"][key])
