"""model.long_text: chunks: whole texts as overlapping windows in training, pooled back into one
prediction per text in evaluation, prediction and `tuneforge evaluate`."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from _configs import tiny_config, write_yaml
from transformers import AutoTokenizer

import tuneforge
from tuneforge.config import config_from_dict
from tuneforge.data.records import Record
from tuneforge.errors import ConfigError
from tuneforge.inference import pool_windows
from tuneforge.pipeline import prepare_data
from tuneforge.tasks import get_task
from tuneforge.tasks._windows import encode_for_model

CHUNKS = {"overlap": 8, "max_chunks": 4, "pooling": "mean"}


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path):
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def article(bbc_news_dir: Path) -> str:
    path = sorted((bbc_news_dir / "business").glob("*.txt"))[0]
    return " ".join(path.read_text(encoding="utf-8", errors="replace").split())


def test_long_text_windows_cover_the_text_with_overlap(tokenizer, article) -> None:
    task = get_task("classification")
    records = [Record(article, "business", "a"), Record("A short note.", "tech", "b")]
    windows = encode_for_model(task, records, tokenizer, ["business", "tech"], 32, {}, CHUNKS)

    article_windows = [w for w in windows if w["document"] == 0]
    assert len(article_windows) == 4  # the article is far longer: capped at max_chunks
    assert [w["document"] for w in windows] == [0, 0, 0, 0, 1]
    assert all(len(w["input_ids"]) <= 32 for w in windows)
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    for window in windows:
        assert window["input_ids"][0] == cls and window["input_ids"][-1] == sep
        assert window["attention_mask"] == [1] * len(window["input_ids"])
    assert [w["labels"] for w in windows] == [0, 0, 0, 0, 1]
    # Consecutive windows share `overlap` tokens and together read the article's first tokens.
    bodies = [w["input_ids"][1:-1] for w in article_windows]
    for left, right in itertools.pairwise(bodies):
        assert left[-8:] == right[:8]
    whole = tokenizer(article, add_special_tokens=False)["input_ids"]
    stitched = bodies[0] + [t for body in bodies[1:] for t in body[8:]]
    assert stitched == whole[: len(stitched)] and len(stitched) == 30 + 3 * 22


def test_long_text_truncate_is_the_task_encoding(tokenizer, article) -> None:
    task = get_task("classification")
    records = [Record(article, "business", "a")]
    assert encode_for_model(task, records, tokenizer, ["business"], 32, {}, None) == task.encode(
        records, tokenizer, ["business"], 32, {}
    )


def test_long_text_pool_windows_mean_and_max() -> None:
    rows = [np.array([1.0, 0.0]), np.array([3.0, 2.0]), np.array([5.0, 5.0])]
    features = [{"document": 0, "labels": 1}, {"document": 0, "labels": 1}, {"document": 1}]
    pooled, firsts = pool_windows(rows, features, "mean")
    np.testing.assert_allclose(np.stack(pooled), [[2.0, 1.0], [5.0, 5.0]])
    assert firsts == [features[0], features[2]]
    pooled, _ = pool_windows(rows, features, "max")
    np.testing.assert_allclose(pooled[0], [3.0, 2.0])
    plain = [{"labels": 1}]
    assert pool_windows(rows[:1], plain) == (rows[:1], plain)


def test_long_text_run_scores_and_predicts_one_row_per_text(tmp_path: Path) -> None:
    raw = tiny_config(
        tmp_path / "runs",
        model={"long_text": "chunks", "max_chunks": 3, "chunk_overlap": 8},
    )
    result = tuneforge.train(write_yaml(tmp_path / "config.yaml", raw), show_progress=False)

    metrics = json.loads((result.run_dir / "metrics.json").read_text(encoding="utf-8"))
    assert metrics["test"]["num_examples"] == 10 and metrics["validation"]["num_examples"] == 10
    info = json.loads((result.run_dir / "model" / "tuneforge.json").read_text(encoding="utf-8"))
    assert info["long_text"] == {"mode": "chunks", "overlap": 8, "max_chunks": 3, "pooling": "mean"}
    # The data report counts as cut only what 3 windows of 32 tokens (8 shared) do not cover.
    report = json.loads((result.run_dir / "data_report.json").read_text(encoding="utf-8"))
    assert report["covered_tokens"] == 30 + 2 * 22 + 2
    assert not any("raising model.max_seq_length" in w for w in report["warnings"])
    predictor = tuneforge.load_predictor(result.run_dir)
    texts = [record["text"] for record in _test_split(result.run_dir)]
    predictions = predictor.predict(texts[:4])
    assert len(predictions) == 4 and all("label" in p for p in predictions)
    evaluated = tuneforge.evaluate_run(result.run_dir)
    assert evaluated["macro_f1"] == pytest.approx(metrics["test"]["macro_f1"])
    assert evaluated["num_examples"] == 10


def test_long_text_chunks_refused_for_token_tasks(tmp_path: Path, wnut16_file: Path) -> None:
    raw = tiny_config(
        tmp_path / "runs",
        data={"source": str(wnut16_file), "max_examples": 50},
        task={"type": "ner"},
        model={"long_text": "chunks"},
    )
    with pytest.raises(ConfigError, match="predicts per token"):
        prepare_data(config_from_dict(raw, source="test"))


def test_long_text_overlap_must_leave_room(tmp_path: Path) -> None:
    raw = tiny_config(tmp_path, model={"long_text": "chunks", "chunk_overlap": 30})
    with pytest.raises(ConfigError, match="chunk_overlap"):
        config_from_dict(raw, source="test")


def _test_split(run_dir: Path) -> list[dict]:
    lines = (run_dir / "splits" / "test.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]
