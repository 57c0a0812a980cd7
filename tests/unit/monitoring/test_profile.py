"""Reference profiles: what a run's validation predictions look like, for every task."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from _configs import BBC_TOPICS, bbc_run
from transformers import AutoTokenizer

from tuneforge.errors import RunError
from tuneforge.monitoring import build_reference_profile, observe, summarise
from tuneforge.monitoring.profile import bin_fractions, quantile_edges
from tuneforge.predict import load_predictor
from tuneforge.run.layout import read_records


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path):
    return AutoTokenizer.from_pretrained(minilm_path)


def test_profile_bbc_run_summarises_validation_predictions(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    run_dir = bbc_run(tmp_path_factory)
    records = read_records(run_dir / "splits" / "validation.jsonl")

    profile = build_reference_profile(run_dir)

    json.dumps(profile, allow_nan=False)  # stored as JSON by the registry
    assert profile["task"] == "classification"
    assert profile["source_split"] == "validation"
    assert profile["num_examples"] == len(records)
    classes = profile["classes"]
    assert classes["kind"] == "predicted_class"
    assert list(classes["distribution"]) == list(BBC_TOPICS)
    assert sum(classes["counts"].values()) == len(records)
    assert sum(classes["distribution"].values()) == pytest.approx(1.0)
    # The predicted classes are the predictor's own, counted per class.
    predicted = [p["label"] for p in load_predictor(run_dir).predict([r.text for r in records])]
    assert classes["counts"] == {t: predicted.count(t) for t in BBC_TOPICS}
    lengths = [len(record.text) for record in records]
    assert profile["length_chars"]["mean"] == pytest.approx(np.mean(lengths))
    assert sum(profile["length_chars"]["bin_fractions"]) == pytest.approx(1.0)
    assert 0.2 <= profile["confidence"]["mean"] <= 1.0
    assert profile["unknown_tokens"]["tokens"] > len(records)


def test_profile_falls_back_to_test_split_and_refuses_no_split(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    copy = tmp_path / "run"
    shutil.copytree(bbc_run(tmp_path_factory), copy)
    (copy / "splits" / "validation.jsonl").write_text("", encoding="utf-8")
    assert build_reference_profile(copy, max_examples=5)["source_split"] == "test"

    shutil.rmtree(copy / "splits")
    with pytest.raises(RunError, match=r"validation\.jsonl"):
        build_reference_profile(copy)


def test_profile_unknown_token_rate_counts_tokenizer_unk(tokenizer) -> None:
    texts = ["plain words here", "parrot 🦜 snowman ☃"]
    predictions = [{"label": "a", "score": 0.9, "probabilities": {"a": 0.9, "b": 0.1}}] * 2

    observations = observe("classification", texts, predictions, tokenizer)

    assert [o.unknown_tokens for o in observations] == [0, 2]
    assert observations[1].unknown_rate == pytest.approx(2 / observations[1].length_tokens)
    assert summarise("classification", ["a", "b"], observations)["unknown_tokens"]["unknown"] == 2


def test_profile_multilabel_rates_are_per_input(tokenizer) -> None:
    predictions = [
        {"labels": ["x", "y"], "probabilities": {"x": 0.9, "y": 0.8, "z": 0.1}},
        {"labels": ["x"], "probabilities": {"x": 0.7, "y": 0.4, "z": 0.5}},
    ]
    profile = summarise(
        "multilabel", ["x", "y", "z"], observe("multilabel", ["a", "b"], predictions, tokenizer)
    )

    assert profile["classes"]["rates"] == {"x": 1.0, "y": 0.5, "z": 0.0}
    # confidence per input: mean over labels of max(p, 1 - p)
    assert profile["confidence"]["mean"] == pytest.approx(
        ((0.9 + 0.8 + 0.9) / 3 + (0.7 + 0.6 + 0.5) / 3) / 2
    )


def test_profile_ner_counts_entity_types_and_regression_quantiles(tokenizer) -> None:
    ner = [
        {
            "tokens": [],
            "tags": [],
            "entities": [{"entity": "person", "score": 0.8}, {"entity": "person", "score": 0.6}],
        },
        {"tokens": [], "tags": [], "entities": [{"entity": "company", "score": 0.9}]},
        {"tokens": [], "tags": [], "entities": []},
    ]
    names = ["O", "B-person", "I-person", "B-company", "I-company"]
    profile = summarise("ner", names, observe("ner", ["a", "b", "c"], ner, tokenizer))
    assert profile["classes"]["counts"] == {"company": 1, "person": 2}
    assert profile["confidence"]["count"] == 2  # the input without entities has no confidence

    values = [{"value": float(v)} for v in range(100)]
    regression = summarise("regression", [], observe("regression", ["t"] * 100, values, tokenizer))
    assert regression["classes"]["quantiles"]["p50"] == pytest.approx(49.5)
    assert regression["classes"]["bin_fractions"] == pytest.approx([0.1] * 10)
    assert regression["confidence"]["mean"] is None


def test_profile_bins_use_reference_edges() -> None:
    edges = quantile_edges(np.arange(1, 101, dtype=float))
    assert len(edges) == 9
    assert bin_fractions([0.0, 1000.0], edges) == [0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0.5]


def test_token_counts_of_long_texts_raise_no_model_length_warning(minilm_path: Path) -> None:
    """Monitoring counts whole texts on purpose; transformers' "will result in indexing errors"
    warning (printed at every registry push of long documents) is not meant for that."""
    import logging

    from tuneforge.monitoring.profile import token_counts

    logger = logging.getLogger("transformers.tokenization_utils_base")
    messages: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())  # type: ignore[method-assign]
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.WARNING
    try:
        assert token_counts(AutoTokenizer.from_pretrained(minilm_path), ["word " * 700]) == [
            (700, 0)
        ]
        assert messages == []
        AutoTokenizer.from_pretrained(minilm_path)(["word " * 700])  # elsewhere it still warns
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert len(messages) == 1 and "indexing errors" in messages[0]
