"""NER runs explained per entity span: on a tagger whose entities are decided by the word before
them ("in"), every method ranks that word first, not the entity's own word."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tuneforge.errors import ExplainError
from tuneforge.explain.attributions import ExplainSettings, explain_text
from tuneforge.explain.entities import entity_targets, span_scores
from tuneforge.explain.html import attribution_page
from tuneforge.explain.ig import integrated_gradients
from tuneforge.explain.words import encode_whitespace_words

from ._toy import NER_TRIGGER, toy_ner_sentences

SETTINGS = ExplainSettings(n_steps=32, lime_samples=300, shap_max_evals=200)


def test_entities_toy_tagger_learned_the_rule(toy_ner_model) -> None:
    rows = toy_ner_sentences(40, seed=7)
    predicted = toy_ner_model.predictor.predict([" ".join(words) for words, _ in rows])
    assert [p["tags"] for p in predicted] == [tags for _, tags in rows]


@pytest.mark.parametrize("method", ["ig", "lime", "shap"])
def test_entities_every_method_ranks_the_deciding_word_first(toy_ner_model, method: str) -> None:
    explained = 0
    for words, tags in toy_ner_sentences(8, seed=3):
        if "B-loc" not in tags:
            continue
        result = explain_text(toy_ner_model, " ".join(words), [method], settings=SETTINGS)
        [entity] = result["prediction"]["entities"]
        assert entity["text"] == words[tags.index("B-loc")]
        scores = result["attributions"][method]["targets"][entity["key"]]
        assert result["words"][int(np.argmax(scores))] == NER_TRIGGER, (method, words, scores)
        explained += 1
    assert explained == 4


def test_entities_ig_is_complete_within_its_delta(toy_ner_model) -> None:
    # Completeness on the span score: attributions sum to score(x) - score(baseline), computed
    # here from the model's logits, within the delta Captum reports.
    words, _ = next(row for row in toy_ner_sentences(8, seed=3) if "B-loc" in row[1])
    encoded = encode_whitespace_words(toy_ner_model.tokenizer, " ".join(words), 32)
    prediction = toy_ner_model.predictor.predict([encoded.text])[0]
    targets = entity_targets(prediction, encoded, toy_ner_model.output_names)
    result = integrated_gradients(
        toy_ner_model, encoded, 0, 64, outputs=lambda logits: span_scores(logits, targets)
    )
    net = toy_ner_model.differentiable()
    ids = torch.tensor([encoded.input_ids])
    special = torch.tensor([[w is None for w in encoded.word_of_token]])
    baseline = torch.where(special, ids, torch.zeros_like(ids))  # [PAD] is id 0
    with torch.no_grad():
        full = span_scores(net(input_ids=ids).logits, targets)[0, 0]
        empty = span_scores(net(input_ids=baseline).logits, targets)[0, 0]
    total = float(result.token_scores.sum())
    assert abs(total - float(full - empty)) == pytest.approx(result.convergence_delta, abs=1e-4)
    # The span is tagged (p(B-loc) + p(I-loc) well above chance) and 64 steps keep the error
    # a small part of what is explained.
    assert float(full) > 0.5
    assert result.convergence_delta < 0.2 * abs(float(full - empty)), (full, empty, result)


def test_entities_target_picks_an_entity_type(toy_ner_model) -> None:
    text = "the car in river and blue"
    chosen = explain_text(toy_ner_model, text, ["lime"], "loc", ExplainSettings(lime_samples=50))
    assert list(chosen["attributions"]["lime"]["targets"]) == ["loc 11:16"]
    with pytest.raises(ExplainError, match=r"--target 'person' is not an entity type .*: loc"):
        explain_text(toy_ner_model, text, ["lime"], "person")
    nothing = explain_text(toy_ner_model, "the car and blue", ["ig", "lime", "shap"])
    assert nothing["prediction"]["entities"] == []
    assert all(a["targets"] == {} for a in nothing["attributions"].values())


def test_entities_a_text_without_the_asked_span_is_said(toy_ner_model, capsys) -> None:
    """`tuneforge explain` says which texts had no span to explain instead of an empty result
    alone."""
    from tuneforge.explain.command import _say_what_had_no_span

    text = "the car in river and blue"
    chosen = explain_text(toy_ner_model, text, ["lime"], "loc", ExplainSettings(lime_samples=50))
    nothing = explain_text(toy_ner_model, "the car and blue", ["lime"], "loc")
    _say_what_had_no_span([chosen, nothing], "loc")
    said = " ".join(capsys.readouterr().err.split())
    assert "text 2: the model predicted no loc span, so there is nothing to explain" in said
    assert "text 1" not in said


def test_entities_words_are_whitespace_words_and_masking_keeps_positions(toy_ner_model) -> None:
    encoded = encode_whitespace_words(toy_ner_model.tokenizer, "Hi  unbelievably, Paris!", 32)
    assert encoded.words == ["Hi", "unbelievably,", "Paris!"]
    masked = encoded.ids_masked([1], toy_ner_model.tokenizer.mask_token_id)
    assert len(masked) == len(encoded.input_ids)
    for token, before, word in zip(masked, encoded.input_ids, encoded.word_of_token, strict=True):
        expected = toy_ner_model.tokenizer.mask_token_id if word == 1 else before
        assert token == expected
    assert encoded.word_of_token.count(1) > 2  # several sub-tokens, all masked


def test_entities_html_frames_the_explained_span(toy_ner_model) -> None:
    result = explain_text(
        toy_ner_model,
        "the car in river and <b>blue</b>",
        ["lime"],
        settings=ExplainSettings(lime_samples=50),
    )
    page = attribution_page([result], "NER")
    assert page.count('class="w span"') == 1
    assert ">river</span>" in page.split('class="w span"')[1][:80]
    assert "<b>blue</b>" not in page and "&lt;b&gt;blue&lt;/b&gt;" in page
    assert "lime → loc" in page
