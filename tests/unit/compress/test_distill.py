"""distill: the soft-target loss per task against hand-computed values, and a 2-layer BBC run
distilled into a 1-layer student through the core training loop."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from _configs import shared_run, tiny_config

from tuneforge.compress.distill import (
    distill,
    distillation_loss,
    evenly_spread_layers,
    student_from_teacher,
)
from tuneforge.compress.methods import CompressOptions, SourceRun
from tuneforge.errors import ConfigError
from tuneforge.inference import collate
from tuneforge.tasks import get_task


def soft_target_loss(task_type, student, teacher, temperature, labels=None):
    return get_task(task_type).soft_label_loss(student, teacher, temperature, labels)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> SourceRun:
    """A 2-layer BBC run (a 1-layer one has no layer to drop), trained hard enough (10 steps at
    5e-4) that its outputs are far from uniform and there is something to distil."""

    def build(folder: Path) -> dict:
        return tiny_config(
            folder,
            model={"num_hidden_layers": 2},
            training={"epochs": 2, "learning_rate": 5e-4},
        )

    return SourceRun.open(shared_run(tmp_path_factory, "bbc-2-layers", build))


def _kl(teacher: list[float], student: list[float], temperature: float) -> float:
    """KL(softmax(t/T) || softmax(s/T)) of one row, written out from the definition."""

    def softmax(row: list[float]) -> list[float]:
        exps = [math.exp(value / temperature) for value in row]
        return [value / sum(exps) for value in exps]

    p, q = softmax(teacher), softmax(student)
    return sum(pi * math.log(pi / qi) for pi, qi in zip(p, q, strict=True))


def test_classification_soft_loss_is_t_squared_kl_averaged_over_examples() -> None:
    teacher = [[2.0, 0.0, -1.0], [0.5, 0.5, 3.0]]
    student = [[1.0, 1.0, 0.0], [0.0, 2.0, 1.0]]
    expected = 4.0 * (_kl(teacher[0], student[0], 2.0) + _kl(teacher[1], student[1], 2.0)) / 2
    loss = soft_target_loss("classification", torch.tensor(student), torch.tensor(teacher), 2.0)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_multilabel_soft_loss_is_bernoulli_kl_per_label() -> None:
    teacher, student, temperature = torch.tensor([[1.0, -2.0]]), torch.tensor([[0.0, 1.0]]), 2.0

    def bernoulli_kl(t: float, s: float) -> float:
        p, q = 1 / (1 + math.exp(-t / temperature)), 1 / (1 + math.exp(-s / temperature))
        return p * math.log(p / q) + (1 - p) * math.log((1 - p) / (1 - q))

    expected = 4.0 * (bernoulli_kl(1.0, 0.0) + bernoulli_kl(-2.0, 1.0)) / 2
    loss = soft_target_loss("multilabel", student, teacher, temperature)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


def test_regression_soft_loss_is_mse_to_the_teacher() -> None:
    loss = soft_target_loss(
        "regression", torch.tensor([[1.0], [3.0]]), torch.tensor([[0.0], [0.0]]), 4.0
    )
    assert float(loss) == pytest.approx((1 + 9) / 2)


def test_ner_soft_loss_counts_only_tokens_with_a_label() -> None:
    labels = torch.tensor([[-100, 2, 0, -100]])
    teacher = torch.tensor([[[9.0, 0.0, 0.0], [2.0, 0.0, -1.0], [0.5, 0.5, 3.0], [0.0, 9.0, 0.0]]])
    student = torch.tensor([[[0.0, 0.0, 9.0], [1.0, 1.0, 0.0], [0.0, 2.0, 1.0], [5.0, 0.0, 0.0]]])
    expected = (
        _kl([2.0, 0.0, -1.0], [1.0, 1.0, 0.0], 1.0) + _kl([0.5, 0.5, 3.0], [0.0, 2.0, 1.0], 1.0)
    ) / 2
    assert float(soft_target_loss("ner", student, teacher, 1.0, labels)) == pytest.approx(
        expected, rel=1e-5
    )


@pytest.mark.parametrize("task_type", ["classification", "multilabel", "regression", "ner"])
def test_soft_loss_is_zero_when_the_student_matches_the_teacher(task_type: str) -> None:
    logits = torch.randn(3, 5, 4) if task_type == "ner" else torch.randn(3, 4)
    labels = torch.zeros(3, 5, dtype=torch.long) if task_type == "ner" else None
    loss = soft_target_loss(task_type, logits.clone(), logits, 3.0, labels)
    assert float(loss) == pytest.approx(0.0, abs=1e-6)


def test_distillation_loss_weighs_soft_and_hard_terms() -> None:
    assert float(distillation_loss(torch.tensor(2.0), torch.tensor(6.0), 0.25)) == 5.0


def test_evenly_spread_layers_follow_distilbert() -> None:
    assert evenly_spread_layers(6, 3) == [0, 2, 4]
    assert evenly_spread_layers(12, 6) == [0, 2, 4, 6, 8, 10]
    assert evenly_spread_layers(2, 1) == [0]


def test_student_from_teacher_copies_the_chosen_layers(source: SourceRun) -> None:
    teacher = source.load_model()
    student = student_from_teacher(teacher, [1])
    assert student.config.num_hidden_layers == 1
    assert teacher.config.num_hidden_layers == 2
    copied = student.bert.encoder.layer[0].state_dict()
    for name, tensor in teacher.bert.encoder.layer[1].state_dict().items():
        assert torch.equal(copied[name], tensor)
    assert torch.equal(student.classifier.weight, teacher.classifier.weight)


def test_distill_trains_a_one_layer_student_whose_kd_loss_falls(
    source: SourceRun, tmp_path: Path
) -> None:
    from transformers import AutoModelForSequenceClassification

    from tuneforge.predict import load_predictor

    options = CompressOptions(
        student_layers=1, distill_epochs=2, distill_learning_rate=1e-3, distill_alpha=1.0
    )
    details = distill(source, tmp_path / "model", options)

    assert details["student_layers"] == 1
    assert details["student_layer_ids"] == [0]
    assert details["student_parameters"] < details["teacher_parameters"]
    assert details["losses_last_epoch"]["soft"] < details["losses_first_epoch"]["soft"]
    # The saved student is a plain 1-layer transformers model, nearer the teacher than at start.
    student = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model")
    assert student.config.num_hidden_layers == 1
    teacher = source.load_model()
    start = student_from_teacher(teacher, [0])
    batch = collate(source.features("train")[:32], 0)
    inputs = {key: value for key, value in batch.items() if key != "labels"}
    with torch.no_grad():
        target = teacher(**inputs).logits
        before = soft_target_loss("classification", start(**inputs).logits, target, 2.0)
        after = soft_target_loss("classification", student.eval()(**inputs).logits, target, 2.0)
    assert float(after) < float(before)
    prediction = load_predictor(tmp_path / "model").predict(["Shares fell on Monday."])[0]
    assert prediction["label"] in source.label_names


@pytest.mark.parametrize("student_layers", [2, 3])
def test_distill_rejects_a_student_as_deep_as_the_teacher(
    source: SourceRun, tmp_path: Path, student_layers: int
) -> None:
    with pytest.raises(ConfigError, match="fewer than the teacher's 2 layers"):
        distill(source, tmp_path / "model", CompressOptions(student_layers=student_layers))


def test_sweep_chains_distill_then_int8_against_the_teacher(
    source: SourceRun, tmp_path: Path
) -> None:
    import json
    import shutil

    from tuneforge.compress.sweep import sweep_run

    run_dir = tmp_path / "run"  # the sweep writes its report into the run: use a copy
    shutil.copytree(source.run_dir, run_dir)
    options = CompressOptions(
        student_layers=1,
        distill_epochs=0.5,
        measure_repeats=1,
        measure_examples=8,
        optimize_graph=False,
    )

    report = sweep_run(
        run_dir, options, ["distill", "onnx-int8-dynamic"], tmp_path / "out", show_progress=False
    )

    rows = {row["method"]: row for row in report["rows"]}
    assert list(rows) == ["original", "distill", "onnx-int8-dynamic", "distill+onnx-int8-dynamic"]
    chained = rows["distill+onnx-int8-dynamic"]
    # The 1-layer student's weights in int8: smaller than either step alone.
    assert chained["size_mb"] < min(
        rows["distill"]["size_mb"], rows["onnx-int8-dynamic"]["size_mb"]
    )
    assert chained["parameters"] == rows["distill"]["parameters"]
    folder = tmp_path / "out" / "run-distill-onnx-int8-dynamic"
    assert json.loads((folder / "model" / "tuneforge.json").read_text())["backend"] == "onnxruntime"
    summary = json.loads((folder / "compression.json").read_text())
    assert summary["source_run"] == str((tmp_path / "out" / "run-distill").resolve())
    assert summary["original_run"] == str(run_dir.resolve())
    assert summary["size_ratio"] == pytest.approx(chained["size_ratio"])
    assert f"measured against is `{run_dir.resolve()}`" in (folder / "model_card.md").read_text()


def test_distill_of_a_one_layer_teacher_says_no_student_can_be_shallower() -> None:
    from tuneforge.compress.distill import check_student_layers

    with pytest.raises(
        ConfigError, match=r"the teacher has 1 layer, so no student_layers below it"
    ):
        check_student_layers(3, 1)
    check_student_layers(1, 2)  # the smallest that works
