from __future__ import annotations

import json

import pytest

from tuneforge.data import QuarantinedRow, read_quarantine, write_quarantine
from tuneforge.data import quarantine as q


def test_quarantine_file_roundtrips_every_label_type(tmp_path):
    rows = [
        QuarantinedRow("a.csv:2", "missing label", "text with \u2028 separator", None),
        QuarantinedRow("a.csv:3", "duplicate of a.csv:2", "ＡＢＣ", "pos"),
        QuarantinedRow("b.jsonl:1", "conflicting labels: [x], [y]", "t", ("x", "y")),
        QuarantinedRow("c.csv:4", "invalid label: 'high' is not a number", "t", 0.5),
        QuarantinedRow("d.csv:5", "malformed row: 3 fields where the header has 2"),
    ]
    path = tmp_path / "run" / "quarantine.jsonl"
    write_quarantine(rows, path)
    lines = path.read_text(encoding="utf-8").split("\n")
    assert len(lines) == 6 and lines[-1] == ""
    assert json.loads(lines[2]) == {
        "source": "b.jsonl:1",
        "reason": "conflicting labels: [x], [y]",
        "text": "t",
        "label": ["x", "y"],
    }
    assert read_quarantine(path) == rows


@pytest.mark.parametrize(
    ("reason", "category"),
    [
        (q.duplicate_reason("a.csv:2"), "duplicate"),
        (q.conflict_reason(["pos", "neg"]), "conflict"),
        (q.MISSING_LABEL, "missing label"),
        (q.EMPTY_TEXT, "empty text"),
        (q.undeclared_reason("x"), "undeclared label"),
        (q.undeclared_reason("LOC", "entity type"), "undeclared label"),
        (q.small_class_reason("x", 1, 3), "small class"),
        (q.undecodable_reason("utf-8", 5), "undecodable"),
        (q.malformed_row_reason(3, 2), "malformed row"),
        (q.invalid_label_reason("x", "a number"), "invalid label"),
        (q.unseen_label_reason("c"), "unseen label"),
        ("something new", "other"),
    ],
)
def test_quarantine_reason_category(reason, category):
    assert q.reason_category(reason) == category


def test_quarantine_conflict_reason_sorts_and_formats_labels():
    assert q.conflict_reason([("b", "a"), 0.5, "z"]) == "conflicting labels: 0.5, [b, a], z"
