"""pipeline.run end to end on small real data, one tiny run per task and per adaptation method."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from _configs import (
    BBC_TOPICS,
    TASK_CONFIGS,
    WNUT_TYPES,
    bbc_run,
    task_run,
    tiny_config,
    wnut_sentences,
)

from tuneforge.config import config_from_dict
from tuneforge.errors import DataError, RunError
from tuneforge.pipeline import RunResult, run
from tuneforge.predict import load_predictor
from tuneforge.run.evaluation import evaluate_run
from tuneforge.run.layout import prepare_run_dir

RUN_FILES = (
    "config.yaml",
    "data_report.json",
    "quarantine.jsonl",
    "metrics.json",
    "training_curves.png",
    "model_card.md",
    "model/tuneforge.json",
)
TEXTS = [
    "Shares in the carmaker fell sharply after it cut its profit forecast for the year.",
    "The striker scored twice as Chelsea beat Arsenal in the cup final at Wembley.",
    "@john I 'm going to see Taylor Swift in London with Google friends tonight",
]
PEFT_METHODS = ("lora", "adalora", "ia3", "prefix", "prompt", "bottleneck")


def train(raw: dict[str, Any], config_dir: Path, **kwargs: Any) -> RunResult:
    config = config_from_dict(raw, config_dir=str(config_dir))
    return run(config, show_progress=False, **kwargs)


TEST_METRICS = {
    "classification": ("accuracy", "macro_f1", "expected_calibration_error"),
    "multilabel": ("micro_f1", "macro_f1", "subset_accuracy", "hamming_loss"),
    "regression": ("mse", "rmse", "mae", "r2"),
    "ner": ("precision", "recall", "f1", "accuracy"),
}


def check_prediction(task: str, text: str, prediction: dict[str, Any], names: list[str]) -> None:
    if task == "classification":
        assert prediction["label"] in names
        assert set(prediction["probabilities"]) == set(names)
        assert math.isclose(sum(prediction["probabilities"].values()), 1.0, abs_tol=1e-4)
        assert prediction["score"] == max(prediction["probabilities"].values())
    elif task == "multilabel":
        assert set(prediction["labels"]) <= set(names)
        assert set(prediction["probabilities"]) == set(names)
        assert all(0.0 <= p <= 1.0 for p in prediction["probabilities"].values())
    elif task == "regression":
        assert set(prediction) == {"value"}
        assert math.isfinite(prediction["value"])
    else:
        assert prediction["tokens"] == text.split()
        assert len(prediction["tags"]) == len(prediction["tokens"])
        assert all(tag == "O" or tag[2:] in names_of_types(names) for tag in prediction["tags"])
        for entity in prediction["entities"]:
            assert text[entity["start"] : entity["end"]] == entity["text"]


def names_of_types(tags: list[str]) -> set[str]:
    return {tag[2:] for tag in tags if tag != "O"}


@pytest.mark.parametrize("task", list(TASK_CONFIGS))
def test_pipeline_run_writes_a_complete_run_per_task(
    task: str, tmp_path_factory: pytest.TempPathFactory, bbc_news_dir: Path, wnut16_file: Path
) -> None:
    run_dir = task_run(tmp_path_factory, task, {"bbc": bbc_news_dir, "wnut": wnut16_file})

    assert run_dir.name == "run"
    for name in RUN_FILES:
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    for name in TEST_METRICS[task]:
        assert isinstance(metrics["test"][name], float), name
    assert metrics["training"]["steps"] >= 1
    assert metrics["training"]["train_seconds"] > 0
    assert metrics["training"]["samples_per_second"] > 0
    assert metrics["training"]["processes"] == 1
    assert metrics["test"]["num_examples" if task != "ner" else "num_sentences"] > 0
    task_info = json.loads((run_dir / "model/tuneforge.json").read_text(encoding="utf-8"))
    assert task_info["task"] == task
    assert "Model card" in (run_dir / "model_card.md").read_text(encoding="utf-8")

    predictor = load_predictor(run_dir)
    predictions = predictor.predict(TEXTS)
    assert len(predictions) == len(TEXTS)
    names = task_info["label_names"]
    if task == "classification":
        assert sorted(names) == sorted(BBC_TOPICS)
    if task == "multilabel":
        assert sorted(names) == sorted(WNUT_TYPES)
    for text, prediction in zip(TEXTS, predictions, strict=True):
        check_prediction(task, text, prediction, names)


@pytest.fixture(scope="module")
def adapted_runs(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """``adapted_runs(method)``: a finished BBC classification run of that method (made once)."""
    return lambda method: bbc_run(tmp_path_factory, method)


@pytest.mark.parametrize("method", ["full", *PEFT_METHODS])
def test_pipeline_adaptation_method_reloads_with_the_same_test_metrics(
    method: str, adapted_runs: Callable[[str], Path]
) -> None:
    run_dir = adapted_runs(method)
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))

    if method == "full":
        assert metrics["training"]["trainable_percent"] == 100
    else:
        assert 0 < metrics["training"]["trainable_percent"] < 100
    reloaded = evaluate_run(run_dir)
    for name in ("accuracy", "macro_f1", "expected_calibration_error"):
        assert reloaded[name] == pytest.approx(metrics["test"][name], abs=1e-6), name
    assert reloaded["confusion_matrix"] == metrics["test"]["confusion_matrix"]
    prediction = load_predictor(run_dir).predict(TEXTS[:1])[0]
    assert prediction["label"] in BBC_TOPICS


@pytest.mark.parametrize("method", ["full", "lora"])
def test_pipeline_model_folder_loads_in_plain_transformers_pipeline(
    method: str, adapted_runs: Callable[[str], Path]
) -> None:
    """Acceptance: a full or merged-LoRA run's model/ is a plain transformers model folder."""
    import transformers

    run_dir = adapted_runs(method)
    task_info = json.loads((run_dir / "model/tuneforge.json").read_text(encoding="utf-8"))
    assert task_info["saved_as"] == ("full" if method == "full" else "merged")
    classifier = transformers.pipeline("text-classification", model=str(run_dir / "model"))
    ours = load_predictor(run_dir).predict(TEXTS)

    theirs = classifier(TEXTS, truncation=True, max_length=task_info["max_seq_length"])

    assert [row["label"] for row in theirs] == [row["label"] for row in ours]
    for plain, tuned in zip(theirs, ours, strict=True):
        assert plain["score"] == pytest.approx(tuned["score"], abs=1e-4)


def test_pipeline_refuses_to_overwrite_a_finished_run(
    tmp_path: Path, adapted_runs: Callable[[str], Path]
) -> None:
    run_dir = adapted_runs("full")
    config = config_from_dict(
        tiny_config(run_dir.parent, training={"epochs": 2}), config_dir=str(tmp_path)
    )
    before = (run_dir / "metrics.json").read_bytes()

    with pytest.raises(RunError, match="--overwrite"):
        run(config, show_progress=False)

    assert (run_dir / "metrics.json").read_bytes() == before


def test_pipeline_resume_refuses_changed_model_settings(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A copy of a finished LoRA run without metrics.json: a run killed after its last checkpoint.
    run_dir = tmp_path / "run"
    shutil.copytree(bbc_run(tmp_path_factory, "lora"), run_dir)
    (run_dir / "metrics.json").unlink()
    lora = {"adaptation": {"method": "lora"}, "training": {"learning_rate": 1e-3}}
    changed = tiny_config(tmp_path, model={"max_seq_length": 64}, **lora)

    with pytest.raises(RunError, match=r"model\.max_seq_length"):
        train(changed, tmp_path, resume=True)
    with pytest.raises(RunError, match="--resume"):
        train(tiny_config(tmp_path, **lora), tmp_path)
    assert (run_dir / "checkpoints/last/state.json").is_file()


def test_pipeline_run_stopped_by_bad_data_does_not_block_the_next_try(tmp_path: Path) -> None:
    """A user error before training (here a missing file) leaves no 'unfinished run' behind."""
    missing = tiny_config(tmp_path, data={"source": "missing.csv"})
    with pytest.raises(DataError, match=r"missing\.csv"):
        train(missing, tmp_path)
    assert (tmp_path / "run/config.yaml").is_file()
    fixed = config_from_dict(tiny_config(tmp_path), config_dir=str(tmp_path))

    for resume in (False, True):
        prepare_run_dir(tmp_path / "run", fixed, resume=resume, overwrite=False)


def test_pipeline_ner_entity_type_seen_only_in_test(tmp_path: Path, wnut16_file: Path) -> None:
    """The NER split is stratified on 'has an entity', not on types: a type can be missing from
    training. It must be scored (as missed), not crash the encoding."""
    sentences = wnut_sentences(wnut16_file)[:300]
    has_team = [any(tag.endswith("sportsteam") for _, tag in s) for s in sentences]
    without = [s for s, team in zip(sentences, has_team, strict=True) if not team][:120]
    with_team = [s for s, team in zip(sentences, has_team, strict=True) if team]
    for name, part in (("train.conll", without), ("test.conll", with_team)):
        blocks = ["\n".join(f"{token}\t{tag}" for token, tag in s) for s in part]
        (tmp_path / name).write_text("\n\n".join(blocks) + "\n", encoding="utf-8")
    raw = tiny_config(
        tmp_path,
        data={"source": "train.conll", "test_source": "test.conll"},
        task={"type": "ner"},
        training={"max_steps": 2},
    )

    result = train(raw, tmp_path)

    assert with_team and "B-sportsteam" in load_predictor(result.run_dir).label_names
    assert result.metrics["per_type"]["sportsteam"]["support"] > 0


def test_pipeline_ner_from_jsonl_tag_ids_as_a_dataset_exports_them(
    tmp_path: Path, wnut16_file: Path
) -> None:
    """{"tokens": [...], "ner_tags": [ids]} rows, the tag names in data.labels in id order:
    trained, evaluated on a JSONL file of the same layout, predicted as spans."""
    sentences = wnut_sentences(wnut16_file)[:160]
    names = ["O", *sorted({tag for sentence in sentences for _, tag in sentence} - {"O"})]
    rows = [
        {"tokens": [t for t, _ in s], "ner_tags": [names.index(tag) for _, tag in s]}
        for s in sentences
    ]
    for name, part in (("train.jsonl", rows[:120]), ("more.jsonl", rows[120:])):
        (tmp_path / name).write_text("".join(json.dumps(r) + "\n" for r in part), "utf-8")
    raw = tiny_config(
        tmp_path,
        data={
            "source": "train.jsonl",
            "text_column": "tokens",
            "label_column": "ner_tags",
            "labels": names,
        },
        task={"type": "ner"},
        training={"max_steps": 2},
    )

    result = train(raw, tmp_path)

    predictor = load_predictor(result.run_dir)
    assert set(names) <= set(predictor.label_names)  # B- and I- of every type
    assert "entities" in predictor.predict(["Anna flew to Oslo"])[0]
    metrics = evaluate_run(result.run_dir, tmp_path / "more.jsonl")
    assert "f1" in metrics and metrics["per_type"]


def test_pipeline_evaluate_ner_file_with_unknown_tag_is_a_data_error(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, bbc_news_dir: Path, wnut16_file: Path
) -> None:
    run_dir = task_run(tmp_path_factory, "ner", {"bbc": bbc_news_dir, "wnut": wnut16_file})
    other = tmp_path / "weather.conll"
    other.write_text("Snow\tB-weather\nin\tO\nLondon\tB-geo-loc\n", encoding="utf-8")

    with pytest.raises(DataError, match=r"B-weather"):
        evaluate_run(run_dir, other)


def test_pipeline_evaluate_reads_a_file_by_its_own_extension(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, bbc_news_dir: Path, wnut16_file: Path
) -> None:
    """A run whose data.format named its token file (conll, as configs/ner/wnut16.yaml sets
    it) still evaluates a JSONL file of token and tag lists: the file's extension decides."""
    import shutil

    import yaml

    shared = task_run(tmp_path_factory, "ner", {"bbc": bbc_news_dir, "wnut": wnut16_file})
    run_dir = Path(shutil.copytree(shared, tmp_path / "run"))  # the shared run stays as it is
    saved = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
    saved["data"]["format"] = "conll"
    (run_dir / "config.yaml").write_text(yaml.safe_dump(saved), encoding="utf-8")
    rows = [{"text": ["Anna", "flew", "to", "Oslo"], "label": ["O", "O", "O", "O"]}]
    other = tmp_path / "more.jsonl"
    other.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")

    assert evaluate_run(run_dir, other)["num_sentences"] == 1
    with pytest.raises(DataError, match=r"^--data "):
        evaluate_run(run_dir, tmp_path / "missing.jsonl")


def test_pipeline_warm_start_from_a_run_folder_keeps_its_head(
    tmp_path: Path, adapted_runs: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """model.name may name a finished run (e.g. one trained on public data of the same task): the
    new run starts from its weights, task head included when the labels are the same."""
    import torch
    from safetensors.torch import load_file

    from tuneforge.pipeline import build_model, prepare_data

    source = adapted_runs("full")
    raw = tiny_config(tmp_path, model={"name": str(source)})
    config = config_from_dict(raw, config_dir=str(tmp_path))
    saved = load_file(str(source / "model" / "model.safetensors"))

    model = build_model(config, prepare_data(config))

    assert torch.equal(model.classifier.weight, saved["classifier.weight"])
    train(raw, tmp_path)
    assert "task head: kept from the starting model" in capsys.readouterr().err
    info = json.loads((tmp_path / "run/model/tuneforge.json").read_text(encoding="utf-8"))
    assert info["base_model"] == str(source)
    assert load_predictor(tmp_path / "run").predict(TEXTS[:1])[0]["label"] in BBC_TOPICS
