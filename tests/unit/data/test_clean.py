from __future__ import annotations

import logging

import pytest

from tuneforge.data import Record, clean_records
from tuneforge.errors import DataError

# One-row examples would otherwise be quarantined as a small class (default minimum 3).
NO_MIN = {"min_examples_per_class": 1}


def rec(text, label, line, tokens=None):
    return Record(text=text, label=label, source=f"d.csv:{line}", tokens=tokens)


def test_clean_nfkc_turns_full_width_letters_into_ascii(make_config):
    kept, _ = clean_records([rec("ＡＢＣ ﬁle", "a", 2)], make_config("d.csv", cleaning=NO_MIN))
    assert kept[0].text == "ABC file"


def test_clean_collapses_whitespace_runs_and_strips(make_config):
    kept, _ = clean_records(
        [rec("  a \t\n b\u00a0 c ", "x", 2)], make_config("d.csv", cleaning=NO_MIN)
    )
    assert kept[0].text == "a b c"


def test_clean_normalisation_can_be_turned_off(make_config):
    config = make_config(
        "d.csv",
        cleaning={
            "normalize_unicode": False,
            "collapse_whitespace": False,
            "min_examples_per_class": 1,
        },
    )
    kept, _ = clean_records([rec("ＡＢＣ  x", "a", 2)], config)
    assert kept[0].text == "ＡＢＣ  x"


def test_clean_duplicates_after_normalisation_keep_the_first(make_config):
    records = [
        rec("ABC", "a", 2),
        rec("ＡＢＣ", "a", 3),
        rec("A  B C", "a", 4),
        rec("A B C", "a", 5),
    ]
    kept, quarantined = clean_records(records, make_config("d.csv", cleaning=NO_MIN))
    assert [r.source for r in kept] == ["d.csv:2", "d.csv:4"]
    assert [(q.source, q.reason) for q in quarantined] == [
        ("d.csv:3", "duplicate of d.csv:2"),
        ("d.csv:5", "duplicate of d.csv:4"),
    ]


def test_clean_duplicates_kept_when_disabled(make_config):
    config = make_config("d.csv", cleaning={"drop_duplicates": False, "min_examples_per_class": 1})
    kept, quarantined = clean_records([rec("x", "a", 2), rec("x", "a", 3)], config)
    assert len(kept) == 2 and quarantined == []


def test_clean_conflicting_labels_quarantine_every_copy(make_config):
    records = [
        rec("same", "pos", 2),
        rec("other", "pos", 3),
        rec("same", "neg", 4),
        rec("same", "pos", 5),
    ]
    kept, quarantined = clean_records(records, make_config("d.csv", cleaning=NO_MIN))
    assert [r.source for r in kept] == ["d.csv:3"]
    assert [(q.source, q.reason) for q in quarantined] == [
        ("d.csv:2", "conflicting labels: neg, pos"),
        ("d.csv:4", "conflicting labels: neg, pos"),
        ("d.csv:5", "conflicting labels: neg, pos"),
    ]


def test_clean_undeclared_labels_are_quarantined(make_config):
    config = make_config("d.csv", labels=["pos", "neg"], cleaning=NO_MIN)
    kept, quarantined = clean_records([rec("a", "pos", 2), rec("b", "meh", 3)], config)
    assert [r.label for r in kept] == ["pos"]
    assert quarantined[0].reason == "label 'meh' not in declared labels"


def test_clean_multilabel_row_with_any_undeclared_item_is_quarantined(make_config):
    config = make_config("d.csv", task="multilabel", labels=["x", "y"], cleaning=NO_MIN)
    kept, quarantined = clean_records([rec("a", ("x", "y"), 2), rec("b", ("x", "z"), 3)], config)
    assert [r.text for r in kept] == ["a"]
    assert quarantined[0].reason == "label 'z' not in declared labels"


@pytest.mark.parametrize("declared", [["PER"], ["O", "B-PER", "I-PER"]])
def test_clean_ner_declared_as_types_or_tags_checks_entity_types(make_config, declared):
    config = make_config("d.conll", task="ner", labels=declared)
    ok = rec("Ann runs", ("B-PER", "O"), 1, ("Ann", "runs"))
    bad = rec("in Rome", ("O", "B-LOC"), 4, ("in", "Rome"))
    kept, quarantined = clean_records([ok, bad], config)
    assert kept == [ok]
    assert quarantined[0].reason == "entity type 'LOC' not in declared labels"


def test_clean_ner_normalises_tokens_one_by_one(make_config):
    record = rec("ＡＢＣ a¨ x", ("B-ORG", "O", "O"), 1, ("ＡＢＣ", "a¨", "x"))
    kept, _ = clean_records([record], make_config("d.conll", task="ner"))
    # NFKC turns "¨" into space + combining diaeresis; the space must not split the token.
    assert kept[0].tokens == ("ABC", "a\u0308", "x")
    assert kept[0].text == "ABC a\u0308 x"
    assert kept[0].label == record.label


def test_clean_small_classes_are_quarantined_whole(make_config):
    records = [rec(f"a{i}", "big", i) for i in range(3)] + [
        rec("b0", "tiny", 9),
        rec("b1", "tiny", 10),
    ]
    kept, quarantined = clean_records(records, make_config("d.csv"))
    assert {r.label for r in kept} == {"big"}
    assert [q.reason for q in quarantined] == [
        "class 'tiny' has only 2 examples (min_examples_per_class=3)"
    ] * 2


def test_clean_multilabel_small_label_is_dropped_from_sets(make_config, caplog):
    records = [rec(f"t{i}", ("common",), i) for i in range(3)]
    records += [rec("both", ("common", "rare"), 7), rec("only rare", ("rare",), 8)]
    with caplog.at_level(logging.WARNING, logger="tuneforge.data"):
        kept, quarantined = clean_records(records, make_config("d.csv", task="multilabel"))
    assert kept[-1].text == "both" and kept[-1].label == ("common",)
    assert [(q.text, q.reason) for q in quarantined] == [
        ("only rare", "class 'rare' has only 2 examples (min_examples_per_class=3)")
    ]
    assert "removed from the label sets of 1 rows" in caplog.text


def test_clean_regression_with_declared_labels_is_an_error(make_config):
    with pytest.raises(DataError, match=r"data.labels is set but task.type is regression"):
        clean_records([rec("a", 1.0, 2)], make_config("d.csv", task="regression", labels=["a"]))


def test_clean_merges_label_case_only_when_asked(make_config):
    records = [rec("good", "Positive", 2), rec("fine", "positive", 3), rec("bad", "NEGATIVE", 4)]
    kept, _ = clean_records(records, make_config("d.csv", cleaning=NO_MIN))
    assert [r.label for r in kept] == ["Positive", "positive", "NEGATIVE"]  # off by default
    merge = {**NO_MIN, "merge_label_case": True}
    kept, _ = clean_records(records, make_config("d.csv", cleaning=merge))
    assert [r.label for r in kept] == ["positive", "positive", "negative"]
    # The declared spelling wins (and the rows are then inside the declared set).
    declared = make_config("d.csv", cleaning=merge, labels=["Positive", "Negative"])
    kept, quarantined = clean_records(records, declared)
    assert [r.label for r in kept] == ["Positive", "Positive", "Negative"] and not quarantined


def test_clean_merged_label_case_in_label_sets(make_config):
    records = [rec("a", ("Billing", "billing", "Refund"), 2)]
    config = make_config(
        "d.jsonl", task="multilabel", cleaning={**NO_MIN, "merge_label_case": True}
    )
    kept, _ = clean_records(records, config)
    assert kept[0].label == ("billing", "refund")


def test_clean_names_label_ids_by_the_declared_labels(make_config, caplog):
    records = [rec("good", "1", 2), rec("bad", "0", 3), rec("great", "1", 4)]
    config = make_config("d.csv", cleaning=NO_MIN, labels=["negative", "positive"])
    with caplog.at_level(logging.WARNING):
        kept, quarantined = clean_records(records, config)
    assert [r.label for r in kept] == ["positive", "negative", "positive"] and not quarantined
    assert "named by data.labels in order (0 -> negative, 1 -> positive)" in caplog.text
    # Never when a label is a declared name, or an id has no name: those rows stay as they are.
    mixed = [*records, rec("fine", "positive", 5)]
    kept, quarantined = clean_records(mixed, config)
    assert [r.label for r in kept] == ["positive"] and len(quarantined) == 3
    beyond = make_config("d.csv", cleaning=NO_MIN, labels=["negative"])
    kept, _ = clean_records(records, beyond)
    assert kept == []
