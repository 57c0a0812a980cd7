"""load_predictor: loading a finished run and predicting raw texts, without the training code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from _configs import BBC_TOPICS, bbc_run

import tuneforge
from tuneforge.errors import RunError
from tuneforge.predict import Predictor, load_predictor

# Different lengths, so that batches are padded differently.
TEXTS = [
    "Shares fell.",
    "The striker scored twice in the second half as the champions beat their rivals 3-1.",
    "Parliament will vote on the new bill next week after a long debate on taxes.",
    "",
    "The new phone has a faster chip, a larger screen and a much better camera than last year.",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bbc_run(tmp_path_factory)


@pytest.fixture(scope="module")
def predictor(run_dir: Path) -> Predictor:
    return load_predictor(run_dir)


def test_predict_classification_output_per_text(predictor: Predictor) -> None:
    predictions = predictor.predict(TEXTS)

    assert len(predictions) == len(TEXTS)
    for prediction in predictions:
        assert set(prediction) == {"label", "score", "probabilities"}
        assert prediction["label"] in BBC_TOPICS
        assert sorted(prediction["probabilities"]) == sorted(BBC_TOPICS)
        assert sum(prediction["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert prediction["score"] == prediction["probabilities"][prediction["label"]]


def test_predict_empty_list_gives_empty_list(predictor: Predictor) -> None:
    assert predictor.predict([]) == []


def test_predict_batch_size_and_padding_do_not_change_probabilities(run_dir: Path) -> None:
    one_by_one = load_predictor(run_dir, batch_size=1).predict(TEXTS)
    batched = load_predictor(run_dir, batch_size=64).predict(TEXTS)

    for single, together in zip(one_by_one, batched, strict=True):
        assert single["label"] == together["label"]
        for name in BBC_TOPICS:
            assert single["probabilities"][name] == pytest.approx(
                together["probabilities"][name], abs=1e-5
            )


def test_predict_loads_from_the_run_or_its_model_folder(
    run_dir: Path, predictor: Predictor
) -> None:
    from_model_folder = load_predictor(run_dir / "model").predict(TEXTS[:2])
    through_public_api = tuneforge.load_predictor(str(run_dir)).predict(TEXTS[:2])

    assert from_model_folder == predictor.predict(TEXTS[:2]) == through_public_api


def test_predict_long_text_is_truncated_not_refused(predictor: Predictor) -> None:
    long_text = " ".join(["The government announced new spending on schools."] * 200)

    (prediction,) = predictor.predict([long_text])

    assert prediction["label"] in BBC_TOPICS


def test_predict_folder_without_model_is_not_a_run(tmp_path: Path) -> None:
    with pytest.raises(RunError, match="not a tuneforge run folder"):
        load_predictor(tmp_path)


def test_predict_model_folder_without_task_file_names_it(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}", encoding="utf-8")

    with pytest.raises(RunError, match=r"tuneforge\.json"):
        load_predictor(tmp_path)


def test_predict_does_not_import_the_training_loop() -> None:
    """Serving loads models through predict; it must not pull in train/ (or peft, accelerate)."""
    code = (
        "import sys, tuneforge.predict, tuneforge.run.batch_prediction; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in {'peft', 'accelerate'} "
        "or m.startswith('tuneforge.training')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )

    assert result.stdout.strip() == "[]"
