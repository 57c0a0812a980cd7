"""predict_file (`tuneforge predict --input F --output F`): every input row, its columns kept,
plus prediction columns."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from _configs import BBC_TOPICS, bbc_articles, bbc_run

import tuneforge.run.batch_prediction as batch_prediction
from tuneforge.errors import DataError
from tuneforge.predict import load_predictor
from tuneforge.run.batch_prediction import predict_file


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bbc_run(tmp_path_factory)


@pytest.fixture(scope="module")
def texts(bbc_news_dir: Path) -> list[str]:
    """Six real BBC articles not among the first 20 of each topic (the run's files are sampled
    from all of them, so overlap is possible but irrelevant here)."""
    return [text for text, _ in bbc_articles(bbc_news_dir, per_topic=1, offset=40)] + ["NA"]


def test_batch_prediction_csv_keeps_rows_and_columns(
    run_dir: Path, texts: list[str], tmp_path: Path
) -> None:
    ids = [f"{index:03d}" for index in range(len(texts))]
    pd.DataFrame({"id": ids, "text": texts}).to_csv(tmp_path / "in.csv", index=False)

    count = predict_file(run_dir, tmp_path / "in.csv", tmp_path / "out" / "pred.csv")

    out = pd.read_csv(tmp_path / "out" / "pred.csv", dtype=str, keep_default_na=False)
    assert count == len(texts) == len(out)
    assert list(out.columns) == [
        "id",
        "text",
        "predicted_label",
        "predicted_score",
        "predicted_probabilities",
    ]
    assert out["id"].tolist() == ids  # "007" stays "007"
    assert out["text"].tolist() == texts  # the text "NA" is predicted, not read as missing
    expected = load_predictor(run_dir).predict(texts)
    assert out["predicted_label"].tolist() == [row["label"] for row in expected]
    for cell, row in zip(out["predicted_probabilities"], expected, strict=True):
        assert json.loads(cell) == pytest.approx(row["probabilities"])
    assert set(out["predicted_label"]) <= set(BBC_TOPICS)


def test_batch_prediction_jsonl_with_other_text_column(
    run_dir: Path, texts: list[str], tmp_path: Path
) -> None:
    rows = [
        {"body": text, "created_at": "2020-01-01", "n": index} for index, text in enumerate(texts)
    ]
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8"
    )

    predict_file(run_dir, tmp_path / "in.jsonl", tmp_path / "out.jsonl", text_column="body")

    out = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [row["n"] for row in out] == list(range(len(texts)))
    assert {row["created_at"] for row in out} == {"2020-01-01"}
    assert all(row["predicted_label"] in BBC_TOPICS for row in out)
    assert all(isinstance(row["predicted_probabilities"], str) for row in out)


def test_batch_prediction_excel_in_and_out(run_dir: Path, texts: list[str], tmp_path: Path) -> None:
    ids = [f"{index:03d}" for index in range(len(texts))]
    with pd.ExcelWriter(tmp_path / "in.xlsx") as workbook:  # the texts on the second sheet
        pd.DataFrame({"note": ["exported 2026-12-07"]}).to_excel(workbook, sheet_name="About")
        pd.DataFrame({"ticket": ids, "text": texts}).to_excel(
            workbook, sheet_name="Tickets", index=False
        )

    count = predict_file(run_dir, tmp_path / "in.xlsx", tmp_path / "pred.xlsx")

    out = pd.read_excel(tmp_path / "pred.xlsx", dtype=str, keep_default_na=False)
    assert count == len(texts) == len(out)
    assert out["ticket"].tolist() == ids and out["text"].tolist() == texts
    expected = load_predictor(run_dir).predict(texts)
    assert out["predicted_label"].tolist() == [row["label"] for row in expected]


def test_batch_prediction_csv_saved_with_semicolons(
    run_dir: Path, texts: list[str], tmp_path: Path
) -> None:
    pd.DataFrame({"id": range(len(texts)), "text": texts}).to_csv(
        tmp_path / "in.csv", index=False, sep=";"
    )
    count = predict_file(run_dir, tmp_path / "in.csv", tmp_path / "pred.csv")
    out = pd.read_csv(tmp_path / "pred.csv", dtype=str, keep_default_na=False)
    assert count == len(texts) and out["text"].tolist() == texts


def test_batch_prediction_chunks_give_the_same_predictions(
    run_dir: Path, texts: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pd.DataFrame({"text": texts}).to_csv(tmp_path / "in.csv", index=False)
    predict_file(run_dir, tmp_path / "in.csv", tmp_path / "whole.csv")
    monkeypatch.setattr(batch_prediction, "_CHUNK_ROWS", 2)

    predict_file(run_dir, tmp_path / "in.csv", tmp_path / "chunked.csv")

    whole = pd.read_csv(tmp_path / "whole.csv")
    chunked = pd.read_csv(tmp_path / "chunked.csv")
    assert whole["predicted_label"].tolist() == chunked["predicted_label"].tolist()
    assert whole["predicted_score"].to_numpy() == pytest.approx(
        chunked["predicted_score"].to_numpy(), abs=1e-5
    )


def test_batch_prediction_missing_column_lists_columns(run_dir: Path, tmp_path: Path) -> None:
    pd.DataFrame({"body": ["Shares fell."], "id": ["1"]}).to_csv(tmp_path / "in.csv", index=False)

    with pytest.raises(DataError, match=r"no column 'text' \(columns: body, id\).*--text-column"):
        predict_file(run_dir, tmp_path / "in.csv", tmp_path / "out.csv")


def test_batch_prediction_bad_output_name_fails_before_loading_the_model(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pd.DataFrame({"text": ["Shares fell."]}).to_csv(tmp_path / "in.csv", index=False)

    def must_not_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded before the output name was checked")

    monkeypatch.setattr("tuneforge.predict.load_predictor", must_not_load)

    with pytest.raises(DataError, match=r"out\.txt"):
        predict_file(run_dir, tmp_path / "in.csv", tmp_path / "out.txt")
    assert not (tmp_path / "out.txt").exists()


@pytest.mark.parametrize("name", ["missing.csv", "in.xlsx"])
def test_batch_prediction_unreadable_input(run_dir: Path, tmp_path: Path, name: str) -> None:
    if name.endswith(".xlsx"):
        (tmp_path / name).write_bytes(b"PK\x03\x04")

    with pytest.raises(DataError, match=name.replace(".", r"\.")):
        predict_file(run_dir, tmp_path / name, tmp_path / "out.csv")
