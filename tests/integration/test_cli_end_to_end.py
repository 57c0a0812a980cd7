"""`tuneforge data inspect`, `evaluate` and `predict` as a user runs them, on a model that learned."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from _configs import (
    BBC_TOPICS,
    bbc_articles,
    learned_bbc_run,
    run_cli,
    tiny_config,
    write_bbc_csv,
    write_yaml,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return learned_bbc_run(tmp_path_factory)


def test_the_run_learned(run_dir: Path) -> None:
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    history = [json.loads(line) for line in (run_dir / "history.jsonl").read_text().splitlines()]
    losses = [row["train_loss"] for row in history if "train_loss" in row]

    assert losses[-1] < losses[0] - 0.5
    assert metrics["test"]["accuracy"] >= 0.5  # chance is 0.2


def test_evaluate_on_the_saved_test_split(run_dir: Path, tmp_path: Path) -> None:
    result = run_cli("evaluate", str(run_dir), cwd=tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "accuracy" in result.stderr and "Traceback" not in result.stderr
    saved = json.loads((run_dir / "evaluation_test.json").read_text(encoding="utf-8"))
    trained = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))["test"]
    assert saved["accuracy"] == pytest.approx(trained["accuracy"], abs=1e-9)
    assert saved["macro_f1"] == pytest.approx(trained["macro_f1"], abs=1e-9)


def test_evaluate_on_another_file(run_dir: Path, tmp_path: Path, bbc_news_dir: Path) -> None:
    # Articles 200.. of each topic: the run sampled 150 of all 2,225, so a few may overlap.
    other = write_bbc_csv(tmp_path / "other.csv", bbc_news_dir, per_topic=8, offset=200)
    with other.open("a", encoding="utf-8") as handle:
        handle.write('"A row that lost its label",\n')

    result = run_cli("evaluate", str(run_dir), "--data", str(other), cwd=tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "other.csv" in result.stderr
    scores = json.loads((run_dir / "evaluation_other.json").read_text(encoding="utf-8"))
    assert scores["num_examples"] == 40
    assert scores["accuracy"] >= 0.4
    # The unlabelled row is not scored, and not dropped silently either.
    assert scores["skipped_rows"] == 1
    skipped = (run_dir / "evaluation_other_quarantine.jsonl").read_text(encoding="utf-8")
    assert "missing label" in skipped
    said = " ".join(result.stderr.split())
    assert "1 row(s) could not be scored" in said and "evaluation_other_quarantine.jsonl" in said


def test_evaluate_file_with_an_unseen_label_is_a_user_error(
    run_dir: Path, tmp_path: Path, bbc_news_dir: Path
) -> None:
    rows = [(text, "weather") for text, _ in bbc_articles(bbc_news_dir, per_topic=1)]
    other = tmp_path / "weather.csv"
    with other.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])

    result = run_cli("evaluate", str(run_dir), "--data", str(other), cwd=tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "weather" in result.stderr and "weather.csv" in result.stderr


def test_predict_text_prints_json(run_dir: Path, tmp_path: Path) -> None:
    texts = [
        "The striker scored twice as the club won the league title on the final day.",
        "Shares in the bank fell after profits dropped and it cut its dividend.",
    ]

    result = run_cli("predict", str(run_dir), "--text", texts[0], "--text", texts[1], cwd=tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    predictions = json.loads(result.stdout)  # stdout holds the JSON alone
    assert len(predictions) == 2
    assert all(row["label"] in BBC_TOPICS for row in predictions)


def test_predict_input_file_to_output_file(
    run_dir: Path, tmp_path: Path, bbc_news_dir: Path
) -> None:
    articles = bbc_articles(bbc_news_dir, per_topic=3, offset=300)
    source = tmp_path / "in.csv"
    with source.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text"])
        writer.writerows((f"a{index}", text) for index, (text, _) in enumerate(articles))

    result = run_cli(
        "predict", str(run_dir), "--input", str(source), "--output", "out.csv", cwd=tmp_path
    )

    assert result.returncode == 0, result.stderr[-3000:]
    with (tmp_path / "out.csv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["id"] for row in rows] == [f"a{index}" for index in range(len(articles))]
    assert {"predicted_label", "predicted_score", "predicted_probabilities"} <= set(rows[0])
    assert all(row["predicted_label"] in BBC_TOPICS for row in rows)
    correct = sum(
        row["predicted_label"] == topic for row, (_, topic) in zip(rows, articles, strict=True)
    )
    assert correct >= len(articles) // 2


def test_data_inspect_writes_the_report_without_a_run_folder(
    tmp_path: Path, bbc_news_dir: Path
) -> None:
    source = write_bbc_csv(tmp_path / "news.csv", bbc_news_dir, per_topic=20)
    with source.open("a", encoding="utf-8") as handle:
        handle.write('"",sports\n"An article without a label",\n')  # quarantined rows
    raw = tiny_config(tmp_path / "runs", data={"source": "news.csv", "max_examples": None})
    del raw["output"]["run_name"]
    config = write_yaml(tmp_path / "bbc.yaml", raw)

    result = run_cli("data", "inspect", str(config), cwd=tmp_path)

    assert result.returncode == 0, result.stderr[-3000:]
    assert "train" in result.stderr and "validation" in result.stderr
    folder = tmp_path / "runs/bbc-data"
    quarantined = {
        int(row["source"].rsplit(":", 1)[1]): row["reason"]
        for row in map(json.loads, (folder / "quarantine.jsonl").read_text().splitlines())
    }
    # Lines 102 and 103 are the two rows appended after the header and 100 articles; BBC News
    # also holds a few verbatim duplicate articles, quarantined as such.
    assert "empty" in quarantined[102] and "label" in quarantined[103]
    report = json.loads((folder / "data_report.json").read_text(encoding="utf-8"))
    assert report["quarantine"]["total"] == len(quarantined)
    assert not (tmp_path / "runs/bbc").exists()
