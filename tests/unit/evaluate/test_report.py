"""Rich tables of every metric dict kind, and atomic JSON writing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from rich.table import Table

from tuneforge.evaluate import (
    classification_metrics,
    metrics_table,
    multilabel_metrics,
    ner_metrics,
    per_class_table,
    regression_metrics,
    write_metrics,
)

_METRICS = {
    "classification": classification_metrics(
        np.array([0, 1, 1]), np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4]]), ["neg", "pos"]
    ),
    "multilabel": multilabel_metrics(
        np.array([[1, 0], [0, 1]]),
        np.array([[0.9, 0.2], [0.4, 0.3]]),
        ["urgent", "billing"],
        np.array([0.5, 0.25]),
    ),
    "regression": regression_metrics(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 1.0])),
    "ner": ner_metrics([["B-PER", "O", "B-LOC"]], [["B-PER", "O", "O"]]),
}


def _render(table: Table) -> str:
    console = Console(record=True, width=200)
    console.print(table)
    return console.export_text()


@pytest.mark.parametrize(
    ("kind", "shown", "hidden"),
    [
        (
            "classification",
            ["accuracy", "macro_f1", "expected_calibration_error", "num_examples"],
            ["per_class", "confusion_matrix"],
        ),
        (
            "multilabel",
            ["micro_f1", "samples_f1", "hamming_loss", "subset_accuracy"],
            ["per_label"],
        ),
        ("regression", ["mse", "r2", "spearman"], []),
        ("ner", ["precision", "f1", "macro_f1", "accuracy", "num_sentences"], ["per_type"]),
    ],
)
def test_report_metrics_table_shows_headline_numbers(
    kind: str, shown: list[str], hidden: list[str]
) -> None:
    text = _render(metrics_table(_METRICS[kind], title=f"{kind} test"))
    assert f"{kind} test" in text
    for name in shown:
        assert name in text
    for name in hidden:
        assert name not in text


def test_report_metrics_table_formats_values() -> None:
    text = _render(metrics_table(_METRICS["regression"], title="t"))
    assert "1.6667" in text  # mse (0 + 1 + 4) / 3, four decimals
    assert "n/a" in text  # spearman of a constant prediction
    assert " 3 " in text  # num_examples as an integer


@pytest.mark.parametrize(
    ("kind", "header", "rows", "columns"),
    [
        ("classification", "class", ["neg", "pos"], ["precision", "recall", "f1", "support"]),
        ("multilabel", "label", ["urgent", "billing"], ["f1", "support", "threshold"]),
        ("ner", "type", ["PER", "LOC"], ["precision", "recall", "f1", "support"]),
    ],
)
def test_report_per_class_table_lists_each_class(
    kind: str, header: str, rows: list[str], columns: list[str]
) -> None:
    table = per_class_table(_METRICS[kind])
    assert table is not None
    assert table.columns[0].header == header
    assert set(columns) <= {column.header for column in table.columns}
    assert table.row_count == len(rows)
    text = _render(table)
    for row in rows:
        assert row in text


def test_report_per_class_table_is_none_for_regression() -> None:
    assert per_class_table(_METRICS["regression"]) is None


@pytest.mark.parametrize("kind", sorted(_METRICS))
def test_report_write_metrics_roundtrips(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "run" / "metrics.json"
    write_metrics(_METRICS[kind], path)
    assert json.loads(path.read_text(encoding="utf-8")) == _METRICS[kind]
    assert os.listdir(path.parent) == ["metrics.json"]  # no temporary file left


def test_report_write_metrics_replaces_existing_file(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    write_metrics({"f1": 0.1}, path)
    write_metrics({"f1": 0.2}, path)
    assert json.loads(path.read_text()) == {"f1": 0.2}
    assert os.listdir(tmp_path) == ["metrics.json"]


def test_report_write_metrics_keeps_old_file_when_rename_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "metrics.json"
    write_metrics({"f1": 0.1}, path)

    def failing_replace(source: str, destination: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(OSError, match="disk full"):
        write_metrics({"f1": 0.2}, path)
    assert json.loads(path.read_text()) == {"f1": 0.1}
    assert os.listdir(tmp_path) == ["metrics.json"]


@pytest.mark.parametrize(
    ("metrics", "error"),
    [({"f1": float("nan")}, ValueError), ({"f1": np.float32(0.5)}, TypeError)],
)
def test_report_write_metrics_refuses_non_json_values(
    tmp_path: Path, metrics: dict, error: type[Exception]
) -> None:
    path = tmp_path / "metrics.json"
    write_metrics({"f1": 0.1}, path)
    with pytest.raises(error):
        write_metrics(metrics, path)
    assert json.loads(path.read_text()) == {"f1": 0.1}
    assert os.listdir(tmp_path) == ["metrics.json"]
