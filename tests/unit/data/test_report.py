from __future__ import annotations

import json

import pytest
from rich.console import Console

from tuneforge.data import QuarantinedRow, Record, Splits, build_data_report, render_data_report


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(minilm_path)


def rec(text, label, tokens=None):
    return Record(text=text, label=label, source="d.csv:2", tokens=tokens)


def classification_splits():
    long_text = "word " * 40
    train = [rec("short one", "a")] * 11 + [rec(long_text, "a")] * 11 + [rec("tiny", "b")] * 2
    quarantined = [
        QuarantinedRow("d.csv:3", "duplicate of d.csv:2"),
        QuarantinedRow("d.csv:4", "missing label"),
        QuarantinedRow("d.csv:5", "duplicate of d.csv:2"),
    ]
    return Splits(train, [rec("short one", "a")], [], quarantined)


def test_report_counts_sizes_labels_and_quarantine(tokenizer):
    report = build_data_report(classification_splits(), tokenizer, 16, "classification")
    train = report["splits"]["train"]
    assert train["size"] == 24
    assert train["label_counts"] == {"a": 22, "b": 2}
    assert report["splits"]["validation"]["label_counts"] == {"a": 1}
    assert report["splits"]["test"] == {
        "size": 0,
        "token_length": None,
        "truncated": 0,
        "truncated_share": 0.0,
        "augmented": 0,
        "label_counts": {},
    }
    assert report["quarantine"] == {"total": 3, "by_category": {"duplicate": 2, "missing label": 1}}
    json.dumps(report)  # must be JSON-able as written to data_report.json


def test_report_token_lengths_match_the_tokenizer(tokenizer):
    report = build_data_report(classification_splits(), tokenizer, 16, "classification")
    long_length = len(tokenizer("word " * 40)["input_ids"])
    assert long_length == 42  # 40 words + [CLS] + [SEP]
    assert report["splits"]["validation"]["token_length"] == {
        "p50": 4, "p90": 4, "p95": 4, "p99": 4, "max": 4,
    }  # fmt: skip
    assert report["splits"]["train"]["token_length"]["max"] == long_length
    assert report["splits"]["train"]["truncated"] == 11
    assert report["splits"]["train"]["truncated_share"] == pytest.approx(11 / 24)


def test_report_warns_on_imbalance_truncation_and_missing_classes(tokenizer):
    warnings = build_data_report(classification_splits(), tokenizer, 16, "classification")[
        "warnings"
    ]
    assert any(
        w.startswith("Class imbalance: 'a' has 22 training examples, 'b' only 2 (11x)")
        for w in warnings
    )
    assert any(
        w.startswith("46% of the train examples are longer than max_seq_length=16")
        for w in warnings
    )
    assert "No validation examples of b: their validation metrics are undefined." in warnings
    relaxed = build_data_report(classification_splits(), tokenizer, 64, "classification")[
        "warnings"
    ]
    assert not any("truncated" in w for w in relaxed)


def test_report_truncation_advice_names_the_setting_that_reads_whole_texts(tokenizer):
    from tuneforge.data.report import truncation_advice

    cut = build_data_report(classification_splits(), tokenizer, 16, "classification")
    assert truncation_advice(cut, "train") == (
        "the model read only the first 16 tokens of 46% of these texts, TF-IDF all of them: "
        "set model.long_text: chunks (or raise model.max_seq_length)"
    )
    assert truncation_advice(cut, "validation") is None  # short texts: nothing was cut
    chunked = build_data_report(
        classification_splits(), tokenizer, 16, "classification", covered_tokens=32
    )
    assert truncation_advice(chunked, "train").endswith(
        "32 tokens of 46% of these texts, TF-IDF all of them: raise model.max_chunks"
    )
    whole = build_data_report(classification_splits(), tokenizer, 64, "classification")
    assert truncation_advice(whole, "train") is None and truncation_advice({}, "test") is None


def test_report_ner_counts_entities_and_tokenizes_words(tokenizer):
    sentence = rec(
        "Ann met Bob Lee", ("B-PER", "O", "B-PER", "I-PER"), ("Ann", "met", "Bob", "Lee")
    )
    place = rec("in Rome", ("O", "B-LOC"), ("in", "Rome"))
    report = build_data_report(Splits([sentence, place], [place], []), tokenizer, 64, "ner")
    assert report["splits"]["train"]["entity_counts"] == {"LOC": 1, "PER": 2}
    expected = len(tokenizer(["in", "Rome"], is_split_into_words=True)["input_ids"])
    assert report["splits"]["validation"]["token_length"]["max"] == expected


def test_report_regression_describes_the_target(tokenizer):
    train = [rec("a", 1.0), rec("b", 3.0)]
    report = build_data_report(Splits(train, [], []), tokenizer, 64, "regression")
    assert report["splits"]["train"]["target"] == {"mean": 2.0, "std": 1.0, "min": 1.0, "max": 3.0}
    assert report["splits"]["test"]["target"] is None


def test_report_renders_tables_for_the_terminal(tokenizer):
    report = build_data_report(classification_splits(), tokenizer, 16, "classification")
    console = Console(record=True, width=200)
    console.print(render_data_report(report))
    text = console.export_text()
    assert "Data (classification)" in text
    assert "Quarantined (3 rows)" in text
    assert "warning: Class imbalance" in text
    label_row = next(line for line in text.splitlines() if "│ b " in line)
    assert [cell.strip() for cell in label_row.split("│")[1:-1]] == ["b", "2", "0", "0"]


def test_report_warns_on_labels_that_differ_only_in_case(tokenizer):
    train = [rec("good", "positive")] * 4 + [rec("fine", "Positive")] * 3 + [rec("bad", "neg")] * 3
    warnings = build_data_report(Splits(train, [], [], []), tokenizer, 16, "classification")[
        "warnings"
    ]
    assert (
        "Labels 'Positive' and 'positive' differ only in letter case and are trained as "
        "separate classes; if they are one class, set data.cleaning.merge_label_case: true."
    ) in warnings
    assert sum("letter case" in w for w in warnings) == 1


def test_report_names_at_most_ten_missing_classes(tokenizer):
    train = [rec(f"text {i}", f"intent{i:02d}") for i in range(25)]
    splits = Splits(train, [rec("text 0", "intent00")], [], [])
    warnings = build_data_report(splits, tokenizer, 16, "classification")["warnings"]
    missing = [w for w in warnings if w.startswith("No validation examples of")]
    assert missing == [
        "No validation examples of intent01, intent02, intent03, intent04, intent05, intent06, "
        "intent07, intent08, intent09, intent10 and 14 more: their validation metrics are "
        "undefined."
    ]


@pytest.mark.parametrize(
    ("task_type", "advice"),
    [
        ("multilabel", "set data.label_separator: ';'."),
        ("classification", "set task.type: multilabel and data.label_separator: ';'."),
    ],
)
def test_report_warns_on_labels_joined_by_a_separator(tokenizer, task_type, advice):
    labels = ["billing;refund", "billing", "delivery;refund", "billing;refund"]
    train = [rec(f"text {i}", label) for i, label in enumerate(labels)]
    warnings = build_data_report(Splits(train, [], [], []), tokenizer, 16, task_type)["warnings"]
    assert (
        "2 class names contain ';' (e.g. 'billing;refund') and are read as one class each; "
        f"if rows carry several labels, {advice}"
    ) in warnings
    single = [rec("a", "Smith, J."), rec("b", "other")]
    quiet = build_data_report(Splits(single, [], [], []), tokenizer, 16, "classification")
    assert not any("class names contain" in w for w in quiet["warnings"])
