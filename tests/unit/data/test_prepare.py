from __future__ import annotations

from collections import Counter

import pytest

from tuneforge.data import prepare_dataset
from tuneforge.errors import DataError

from .conftest import write


def write_csv(path, rows):
    lines = ["text,label"] + [f"{text},{label}" for text, label in rows]
    return write(path, "\n".join(lines) + "\n")


def test_prepare_loads_cleans_and_splits_with_quarantine_in_order(tmp_path, make_config):
    rows = [(f"pos {i}", "pos") for i in range(30)] + [(f"neg {i}", "neg") for i in range(30)]
    rows += [("", "pos"), ("pos 0", "pos"), ("odd", "rare")]
    path = write_csv(tmp_path / "d.csv", rows)
    splits = prepare_dataset(make_config("d.csv"))
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (48, 6, 6)
    assert [(q.source, q.reason) for q in splits.quarantined] == [
        (f"{path}:62", "empty text"),
        (f"{path}:63", f"duplicate of {path}:2"),
        (f"{path}:64", "class 'rare' has only 1 examples (min_examples_per_class=3)"),
    ]


def test_prepare_one_class_only_is_an_error(tmp_path, make_config):
    write_csv(tmp_path / "d.csv", [(f"t {i}", "pos") for i in range(20)] + [("x", "neg")])
    with pytest.raises(
        DataError, match=r"one class only: every training example has label 'pos'.*1 small class"
    ):
        prepare_dataset(make_config("d.csv"))


def test_prepare_everything_quarantined_is_an_error(tmp_path, make_config):
    write_csv(tmp_path / "d.csv", [("a", ""), ("b", "")])
    with pytest.raises(
        DataError, match=r"no usable examples left; all 2 rows were quarantined \(2 missing label\)"
    ):
        prepare_dataset(make_config("d.csv"))


def test_prepare_max_examples_takes_a_stratified_sample(tmp_path, make_config):
    rows = [(f"a {i}", "a") for i in range(150)] + [(f"b {i}", "b") for i in range(50)]
    write_csv(tmp_path / "d.csv", rows)
    splits = prepare_dataset(make_config("d.csv", max_examples=40))
    kept = splits.train + splits.validation + splits.test
    assert len(kept) == 40
    assert Counter(r.label for r in kept) == {"a": 30, "b": 10}
    assert splits.quarantined == []
    assert splits.sampled_from == 200  # the report's quarantine share is relative to this


def test_prepare_given_test_source_is_used_and_leaks_are_quarantined(tmp_path, make_config):
    write_csv(
        tmp_path / "train.csv",
        [(f"a {i}", "a") for i in range(10)] + [(f"b {i}", "b") for i in range(10)],
    )
    test_path = write_csv(
        tmp_path / "test.csv", [("new a", "a"), ("a 3", "a"), ("new c", "c"), ("new b", "b")]
    )
    splits = prepare_dataset(make_config("train.csv", test_source="test.csv"))
    assert [r.text for r in splits.test] == ["new a", "new b"]
    assert len(splits.train) + len(splits.validation) == 20
    reasons = {q.source: q.reason for q in splits.quarantined}
    assert reasons[f"{test_path}:3"].startswith("duplicate of ")
    # "c" is quarantined as a small class before it can reach the unseen-label check.
    assert reasons[f"{test_path}:4"].startswith("class 'c' has only 1")


def test_prepare_unseen_validation_label_is_quarantined(tmp_path, make_config):
    write_csv(
        tmp_path / "train.csv",
        [(f"a {i}", "a") for i in range(10)] + [(f"b {i}", "b") for i in range(10)],
    )
    write_csv(tmp_path / "val.csv", [(f"c {i}", "c") for i in range(3)] + [("new a", "a")])
    splits = prepare_dataset(make_config("train.csv", validation_source="val.csv"))
    assert [r.text for r in splits.validation] == ["new a"]
    assert [q.reason for q in splits.quarantined] == [
        "unseen label: 'c' does not occur in the training split"
    ] * 3


def test_prepare_same_file_for_train_and_test_is_refused(tmp_path, make_config):
    write_csv(tmp_path / "d.csv", [("a", "a")])
    with pytest.raises(DataError, match=r"test source '.*d\.csv' is the same as the train source"):
        prepare_dataset(make_config("d.csv", test_source=str(tmp_path / "d.csv")))


def test_prepare_ner_splits_conll_sentences(tmp_path, make_config):
    sentences = [f"w{i} B-X\nnext O\n" if i % 2 else f"w{i} O\n" for i in range(20)]
    write(tmp_path / "d.conll", "\n".join(sentences))
    splits = prepare_dataset(make_config("d.conll", task="ner"))
    assert (len(splits.train), len(splits.validation), len(splits.test)) == (16, 2, 2)
    # Stratified by "has an entity": one sentence of each kind in a test split of two.
    assert sorted(any(tag != "O" for tag in r.label) for r in splits.test) == [False, True]
