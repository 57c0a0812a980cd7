"""What `fit` takes from its caller: a training step, a batch sampler, composed loss terms, no
checkpoint folder at all, and repeated calls with different precision in one process."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from tuneforge.training import TrainingHooks, fit
from tuneforge.training.sampling import ClassBalancedBatches, ShuffledBatches, shard
from tuneforge.training.steps import MicroBatch, forward_backward


def _parameters(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _changed(model: torch.nn.Module, before: dict[str, torch.Tensor]) -> list[str]:
    return [name for name, p in model.named_parameters() if not torch.equal(p, before[name])]


def test_composition_custom_training_step_replaces_forward_backward(
    tmp_path, bbc_features, make_model, make_setup
):
    # A step that backpropagates nothing (its loss times zero): AdamW's update of a zero gradient
    # is exactly zero without weight decay, so the weights must not move at all.
    calls = []

    def frozen_step(micro_batch: MicroBatch) -> torch.Tensor:
        calls.append(len(micro_batch.batch["labels"]))
        loss = micro_batch.loss_of(micro_batch.model(**micro_batch.batch))
        micro_batch.backward(loss * 0.0)
        return loss.detach()

    model = make_model()
    before = _parameters(model)
    setup = make_setup(tmp_path / "frozen", epochs=1, weight_decay=0.0, learning_rate=1e-3)
    setup.training_step = frozen_step
    state = fit(model, bbc_features, setup)
    assert calls == [4] * 9 and state.global_step == 9
    assert _changed(model, before) == []

    # The default step on the same setup does move them.
    model = make_model()
    setup = make_setup(tmp_path / "default", epochs=1, weight_decay=0.0, learning_rate=1e-3)
    setup.training_step = forward_backward
    fit(model, bbc_features, setup)
    assert len(_changed(model, before)) > 10


class _OnlyLabel:
    """A sampler that serves the examples of one label only, two per batch."""

    def __init__(self, labels: list[int], keep: int) -> None:
        self.indices = [i for i, label in enumerate(labels) if label == keep]

    def num_batches(self) -> int:
        return len(self.indices) // 2

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        return [self.indices[i : i + 2] for i in range(0, 2 * self.num_batches(), 2)]


def test_composition_custom_sampler_decides_what_the_loop_sees(
    tmp_path, bbc_features, make_model, make_setup
):
    labels = [feature["labels"] for feature in bbc_features]
    seen: list[list[int]] = []

    def recording_step(micro_batch: MicroBatch) -> torch.Tensor:
        seen.append(micro_batch.batch["labels"].tolist())
        return forward_backward(micro_batch)

    setup = make_setup(tmp_path, epochs=2)
    setup.sampler = _OnlyLabel(labels, keep=2)
    setup.training_step = recording_step
    state = fit(make_model(), bbc_features, setup)

    # 12 tech articles in batches of two, for two epochs: the step count follows the sampler.
    assert state.global_step == 12 and len(seen) == 12
    assert all(batch == [2, 2] for batch in seen)


def test_composition_loss_terms_compose_in_order(tmp_path, bbc_features, make_model, make_setup):
    # Two features adjusting the loss (say class weights, then distillation) both run, in order,
    # each on what the previous one returned.
    order: list[tuple[str, float]] = []

    def double(model, batch, outputs, loss):
        order.append(("double", float(loss)))
        return loss * 2

    def plus_one(model, batch, outputs, loss):
        order.append(("plus_one", float(loss)))
        return loss + 1

    logged = []

    def record_loss(context) -> None:
        logged.append(float(context.loss))

    setup = make_setup(
        tmp_path,
        hooks=TrainingHooks(loss_terms=[double, plus_one], after_optimizer_step=[record_loss]),
        max_steps=2,
    )
    fit(make_model(), bbc_features, setup)
    assert [name for name, _ in order] == ["double", "plus_one"] * 2
    first_model_loss, first_doubled = order[0][1], order[1][1]
    assert abs(first_doubled - 2 * first_model_loss) < 1e-5
    assert abs(logged[0] - (2 * first_model_loss + 1)) < 1e-5


def _scripted_evaluation(values: list[float], snapshots: list) -> Any:
    """An evaluate callable returning `values` in turn (metric "score", higher is better) and
    keeping a copy of the weights it scored."""
    calls = iter(values)

    def evaluate(model: torch.nn.Module) -> dict[str, float]:
        snapshots.append(_parameters(model))
        return {"score": next(calls), "loss": 1.0}

    return evaluate


def test_composition_without_checkpoint_dir_nothing_is_written_and_best_is_kept(
    tmp_path, bbc_features, make_model, make_setup, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    snapshots: list = []
    setup = make_setup(
        None,
        evaluate=_scripted_evaluation([0.2, 0.9, 0.4], snapshots),
        metric_for_best="score",
        higher_is_better=True,
        max_steps=3,
        eval_every_steps=1,
        learning_rate=1e-3,
    )
    model = make_model()
    state = fit(model, bbc_features, setup)

    assert os.listdir(tmp_path) == []
    assert state.best_step == 2 and state.best_metric == 0.9
    best = snapshots[1]
    assert _changed(model, best) == [], "the model must end with the best weights, from memory"
    assert _changed(model, snapshots[2]) != []


def test_composition_fresh_start_clears_a_stale_best(
    tmp_path, bbc_features, make_model, make_setup
):
    common = dict(metric_for_best="score", higher_is_better=True, eval_every_steps=1, max_steps=2)
    fit(
        make_model(),
        bbc_features,
        make_setup(tmp_path, evaluate=_scripted_evaluation([0.99, 0.5], []), **common),
    )
    assert (tmp_path / "best").is_dir()

    # A new run in the same folder scores lower than the old best: it must still end on its own
    # best weights, never on the earlier run's.
    snapshots: list = []
    model = make_model()
    state = fit(
        model,
        bbc_features,
        make_setup(tmp_path, evaluate=_scripted_evaluation([0.3, 0.1], snapshots), **common),
    )
    assert state.best_metric == 0.3 and state.best_step == 1
    assert _changed(model, snapshots[0]) == []


def test_composition_fp32_then_bf16_then_fp32_in_one_process(
    tmp_path, bbc_features, make_model, make_setup
):
    # accelerate keeps its state in process singletons; a second Accelerator with another mixed
    # precision used to raise "AcceleratorState has already been initialized".
    for index, precision in enumerate(["fp32", "bf16", "fp32"]):
        setup = make_setup(tmp_path / str(index), max_steps=2)
        setup.precision = precision
        state = fit(make_model(), bbc_features, setup)
        assert state.finished and state.global_step == 2


def test_composition_class_balanced_sampler_evens_out_classes():
    # 90 / 9 / 1: uniform sampling would show the rare class about 1% of the time.
    labels = [0] * 90 + [1] * 9 + [2]
    sampler = ClassBalancedBatches(labels, batch_size=10, seed=0)
    assert sampler.epoch_batches(3) == sampler.epoch_batches(3)
    assert sampler.epoch_batches(3) != sampler.epoch_batches(4)
    drawn = [
        labels[i] for epoch in range(20) for batch in sampler.epoch_batches(epoch) for i in batch
    ]
    shares = [drawn.count(label) / len(drawn) for label in range(3)]
    assert all(abs(share - 1 / 3) < 0.05 for share in shares), shares
    assert sampler.num_batches() == 10


def test_composition_shards_are_disjoint_and_even():
    batches = ShuffledBatches(list(range(50)), batch_size=4, seed=1).epoch_batches(0)
    assert len(batches) == 13
    shards = [shard(batches, rank, 3) for rank in range(3)]
    assert [len(part) for part in shards] == [4, 4, 4]
    flat = [tuple(batch) for part in shards for batch in part]
    assert len(set(flat)) == 12
    assert shard(batches, 0, 1) == batches


def test_composition_make_setup_defaults_are_fit_defaults(make_setup) -> None:
    setup = make_setup(Path("unused"))
    assert setup.sampler is None and setup.training_step is forward_backward
