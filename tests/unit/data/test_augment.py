"""Augmentation: EDA and typo copies of training rows only, after the split, seeded, counted in
the data report; validation and test never see a copy."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from tuneforge.config import AugmentationConfig, config_from_dict
from tuneforge.data import build_data_report, prepare_dataset
from tuneforge.data.augment import (
    augment_training,
    random_deletion,
    random_swap,
    synonym_replacement,
)
from tuneforge.data.records import Record
from tuneforge.data.wordnet import WORDNET_DIR, WordNet
from tuneforge.errors import ConfigError

from .conftest import write

SENTENCES = [
    ("A funny movie with a great story and good actors", "positive"),
    ("The film was a dull and boring waste of time", "negative"),
    ("Brilliant acting and a clever script make this a joy", "positive"),
    ("Terrible dialogue and a plot that goes nowhere at all", "negative"),
]


@pytest.fixture(scope="module")
def wordnet() -> WordNet:
    if not (Path(WORDNET_DIR) / "data.noun").is_file():
        pytest.skip("WordNet files absent: apt-get install wordnet-base (CI installs them)")
    return WordNet.load()


def _records() -> list[Record]:
    return [Record(text, label, f"f.csv:{i + 2}") for i, (text, label) in enumerate(SENTENCES)]


@pytest.mark.parametrize("method", ["eda", "typos"])
def test_augment_adds_marked_copies_and_is_seeded(wordnet, method):
    settings = AugmentationConfig(method=method, copies_per_row=3, alpha=0.2, seed=7)
    train = _records()
    augmented = augment_training(train, settings, wordnet)
    assert augmented[: len(train)] == train  # originals first, untouched
    copies = augmented[len(train) :]
    assert 0 < len(copies) <= 3 * len(train)
    assert all(copy.augmented and "#aug" in copy.source for copy in copies)
    originals = {record.source: record for record in train}
    for copy in copies:
        assert copy.label == originals[copy.source.split("#")[0]].label
        assert copy.text != originals[copy.source.split("#")[0]].text
    assert augment_training(train, settings, wordnet) == augmented
    other = augment_training(train, settings.model_copy(update={"seed": 8}), wordnet)
    assert other != augmented


def test_augment_eda_operations(wordnet):
    words = ["a", "funny", "movie", "with", "a", "great", "story"]
    rng = np.random.default_rng(0)
    replaced = synonym_replacement(words, 0.3, rng, wordnet)
    changed = [(a, b) for a, b in zip(words, replaced, strict=True) if a != b]
    assert changed and all(b in wordnet.synonyms(a) for a, b in changed)
    assert sorted(random_swap(words, 0.3, rng)) == sorted(words)
    assert set(random_deletion(words, 0.3, rng)) <= set(words)
    assert random_deletion(["only"], 1.0, rng) == ["only"]


def test_augment_ratio_picks_a_share_of_rows(wordnet):
    train = _records() * 50
    settings = AugmentationConfig(method="typos", ratio=0.5, seed=0)
    copies = len(augment_training(train, settings, wordnet)) - len(train)
    assert 70 <= copies <= 130


def test_augment_never_reaches_validation_or_test(tmp_path, make_config):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "label"])
    rows = [(f"{text} number {i}", label) for i in range(10) for text, label in SENTENCES]
    writer.writerows(rows)
    source = write(tmp_path / "reviews.csv", buffer.getvalue())
    config = make_config(
        str(source),
        split={"validation_ratio": 0.2, "test_ratio": 0.2},
        augmentation={"method": "typos", "copies_per_row": 2, "seed": 1},
    )
    splits = prepare_dataset(config)
    originals = {text for text, _ in rows}
    for held_out in (splits.validation, splits.test):
        assert held_out and not any(record.augmented for record in held_out)
        assert {record.text for record in held_out} <= originals
    plain = [record for record in splits.train if not record.augmented]
    copies = [record for record in splits.train if record.augmented]
    assert len(plain) == 24 and len(copies) > 24  # 2 copies per row, a few equal to their row
    held_out_texts = {record.text for record in [*splits.validation, *splits.test]}
    assert not {record.source.split("#")[0] for record in copies} & {
        record.source for record in [*splits.validation, *splits.test]
    }
    assert not held_out_texts & {record.text for record in copies}

    class _Words:  # a whitespace "tokenizer": the report only counts lengths
        pad_token_id = 0

        def __call__(self, texts, **_):
            return {"input_ids": [text.split() for text in texts]}

    report = build_data_report(splits, _Words(), 64, "classification")
    assert report["splits"]["train"]["augmented"] == len(copies)
    assert report["splits"]["validation"]["augmented"] == 0
    assert report["splits"]["test"]["augmented"] == 0


def test_augment_refused_for_per_token_labels():
    with pytest.raises(ConfigError, match=r"data\.augmentation"):
        config_from_dict(
            {"task": {"type": "ner"}, "data": {"augmentation": {"method": "eda"}}}, source="x"
        )


def test_augment_missing_wordnet_names_the_package(tmp_path):
    from tuneforge.errors import DataError

    with pytest.raises(DataError, match="apt-get install wordnet-base"):
        WordNet.load(tmp_path)
