from __future__ import annotations

from collections import Counter

import pytest

from tuneforge.config import label_kind_of
from tuneforge.data import Record, split_records
from tuneforge.data.split import sample_records, stratify_keys


def records_with(labels):
    return [
        Record(text=f"text {i}", label=label, source=f"d.csv:{i + 2}")
        for i, label in enumerate(labels)
    ]


def test_split_sizes_and_class_proportions_follow_the_ratios(make_config):
    records = records_with(["a"] * 140 + ["b"] * 60)
    train, validation, test = split_records(records, make_config("d.csv"))
    assert (len(train), len(validation), len(test)) == (160, 20, 20)
    assert Counter(r.label for r in test) == {"a": 14, "b": 6}
    assert Counter(r.label for r in validation) == {"a": 14, "b": 6}
    assert sorted(r.source for r in train + validation + test) == sorted(r.source for r in records)


def test_split_is_deterministic_for_a_seed_and_in_input_order(make_config):
    records = records_with(["a", "b"] * 50)
    first = split_records(records, make_config("d.csv"))
    again = split_records(records, make_config("d.csv"))
    other = split_records(records, make_config("d.csv", split={"seed": 7}))
    assert first == again
    assert first[2] != other[2]
    assert first[0] == sorted(first[0], key=records.index)


def test_split_zero_ratios_give_empty_splits(make_config):
    records = records_with(["a", "b"] * 10)
    config = make_config("d.csv", split={"validation_ratio": 0.0, "test_ratio": 0.0})
    assert split_records(records, config) == (records, [], [])


def test_split_given_sources_are_not_cut(make_config):
    records = records_with(["a", "b"] * 10)
    config = make_config("d.csv", validation_source="v.csv", test_source="t.csv")
    assert split_records(records, config) == (records, [], [])


def test_split_tiny_data_falls_back_to_a_random_split(make_config):
    train, validation, test = split_records(
        records_with(["a", "b", "c", "d"]), make_config("d.csv")
    )
    assert (len(train), len(validation), len(test)) == (2, 1, 1)


@pytest.mark.parametrize(
    ("task", "labels", "expected"),
    [
        ("multilabel", [("x", "y"), ("y",), ("y", "z"), ("x",)], ["x", "y", "z", "x"]),
        (
            "regression",
            [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
            ["q0", "q0", "q1", "q1", "q2", "q2", "q3", "q3", "q4", "q4"],
        ),
        ("ner", [("O", "B-A"), ("O", "O")], ["entity", "none"]),
    ],
)
def test_split_stratify_keys_per_task(task, labels, expected):
    assert stratify_keys(records_with(labels), label_kind_of(task)) == expected


def test_split_regression_spreads_the_target_range(make_config):
    records = records_with([float(i) for i in range(100)])
    _, _, test = split_records(records, make_config("d.csv", task="regression"))
    # Two test rows from each quintile: every fifth of the range is represented.
    assert Counter(int(r.label) // 20 for r in test) == {q: 2 for q in range(5)}


def test_split_sample_records_keeps_exact_count_and_proportions(make_config):
    records = records_with(["a"] * 80 + ["b"] * 20)
    sample = sample_records(records, 50, make_config("d.csv"))
    assert len(sample) == 50
    assert Counter(r.label for r in sample) == {"a": 40, "b": 10}
    assert sample_records(records, 500, make_config("d.csv")) is records
