"""The training loop on the real 1-layer MiniLM and BBC News: learning, step counting, gradient
accumulation, hook order, early stopping, and bit-exact resume after a crash or Ctrl-C."""

from __future__ import annotations

import copy
import os
import signal
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import torch

from tuneforge.config import TrainingConfig
from tuneforge.inference import collate
from tuneforge.training import TrainingHooks, TrainingInterrupted, count_steps, fit
from tuneforge.training.checkpoint import existing_checkpoint, load_weights, read_loop_state
from tuneforge.training.sampling import epoch_batches

from ._bbc import per_topic
from ._state import without_wall_time


class _Crash(Exception):
    """Stands for a crash (OOM, power loss) in the middle of a run."""


def _train_losses(state) -> list[float]:
    return [row["train_loss"] for row in state.history if "train_loss" in row]


def _assert_same_parameters(model: torch.nn.Module, reference: dict[str, torch.Tensor]) -> None:
    state = model.state_dict()
    assert state.keys() == reference.keys()
    for name, tensor in state.items():
        difference = (tensor - reference[name]).abs().max().item()
        assert torch.equal(tensor, reference[name]), f"{name} differs by up to {difference}"


def _grad_norm(model: torch.nn.Module) -> float:
    norms = [p.grad.norm() for p in model.parameters() if p.grad is not None]
    return torch.linalg.vector_norm(torch.stack(norms)).item()


@pytest.mark.parametrize(
    ("num_examples", "training", "expected"),
    [
        (36, {"batch_size": 8}, (5, 15)),
        # 9 batches in groups of 2: the last, partial group is a step of its own.
        (36, {"batch_size": 4, "gradient_accumulation_steps": 2}, (5, 15)),
        (36, {"batch_size": 4, "gradient_accumulation_steps": 2, "epochs": 2.5}, (5, 13)),
        (10, {"batch_size": 4, "gradient_accumulation_steps": 4, "epochs": 1}, (1, 1)),
        (36, {"batch_size": 8, "max_steps": 7}, (5, 7)),
        (36, {"batch_size": 8, "epochs": 0.01}, (5, 1)),
    ],
)
def test_loop_count_steps(num_examples, training, expected):
    assert count_steps(num_examples, TrainingConfig(**training)) == expected


def test_loop_training_loss_falls_and_checkpoint_loads_back(
    tmp_path, bbc_features, make_model, make_setup
):
    # 4 articles per topic in one batch: lr 1e-3 fits them within ~10 steps (measured over seeds
    # 0-3: the mean of the last three losses ends between 0.07 and 0.31, from 1.10).
    features = per_topic(bbc_features, 4)
    model = make_model()
    setup = make_setup(
        tmp_path, batch_size=12, learning_rate=1e-3, max_steps=12, lr_schedule="constant"
    )

    state = fit(model, features, setup)

    losses = _train_losses(state)
    assert [row["step"] for row in state.history if "train_loss" in row] == list(range(1, 13))
    assert sum(losses[-3:]) / 3 < 0.5 * sum(losses[:3]) / 3
    assert state.finished and state.global_step == 12
    reloaded = make_model()
    load_weights(existing_checkpoint(tmp_path / "last"), reloaded)
    _assert_same_parameters(reloaded, model.state_dict())


def test_loop_gradient_accumulation_matches_step_count(
    tmp_path, bbc_features, make_model, make_setup
):
    def counting_hooks(counts: dict[str, int]) -> TrainingHooks:
        def count_forward(model, batch, outputs, loss):
            counts["forward"] += 1
            return loss

        def count_step(context) -> None:
            counts["step"] += 1

        return TrainingHooks(loss_terms=[count_forward], after_optimizer_step=[count_step])

    results = {}
    for name, training in {
        "batch8": {"batch_size": 8},
        "batch4x2": {"batch_size": 4, "gradient_accumulation_steps": 2},
    }.items():
        counts = {"forward": 0, "step": 0}
        setup = make_setup(
            tmp_path / name, hooks=counting_hooks(counts), epochs=1, learning_rate=1e-5, **training
        )
        state = fit(make_model(), bbc_features, setup)
        results[name] = (state.global_step, counts["step"], counts["forward"])
        assert count_steps(len(bbc_features), setup.config) == (state.global_step,) * 2

    # 36 examples: 5 batches of 8, or 9 batches of 4 in 4 full groups and 1 partial group.
    assert results == {"batch8": (5, 5, 5), "batch4x2": (5, 5, 9)}


def test_loop_accumulated_gradient_is_the_mean_over_the_group(
    tmp_path, bbc_features, make_model, make_setup
):
    # 10 examples, batches of 4, 4, 2: one full group of two batches, then a partial group of one.
    features = per_topic(bbc_features, 4)[:10]
    model = make_model()
    for module in model.modules():  # no dropout: the reference forward must match the loop's
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
    setup = make_setup(
        tmp_path, gradient_accumulation_steps=2, max_grad_norm=None, epochs=1, group_by_length=False
    )
    lengths = [len(feature["input_ids"]) for feature in features]
    batches = epoch_batches(lengths, 4, setup.config.seed, 0, False)
    assert [len(batch) for batch in batches] == [4, 4, 2]
    checked = []

    def compare_with_reference(context) -> None:
        done = context.state.batches_done_in_epoch
        group = batches[(done - 1) // 2 * 2 : done]
        reference = copy.deepcopy(context.model)
        reference.zero_grad(set_to_none=True)
        for batch in group:
            (reference(**collate([features[i] for i in batch], 0)).loss / len(group)).backward()
        for name, parameter in context.model.named_parameters():
            expected = dict(reference.named_parameters())[name].grad
            torch.testing.assert_close(parameter.grad, expected, rtol=1e-4, atol=1e-7)
        checked.append(len(group))

    setup.hooks.after_backward.append(compare_with_reference)
    fit(model, features, setup)

    assert checked == [2, 1]


def test_loop_hooks_see_gradients_in_order(tmp_path, bbc_features, make_model, make_setup):
    model = make_model()
    seen: list[tuple[str, Any]] = []
    snapshot: dict[str, torch.Tensor] = {}

    def after_backward(context) -> None:
        seen.append(("after_backward", _grad_norm(context.model)))

    def before_step(context) -> None:
        seen.append(("before_optimizer_step", _grad_norm(context.model)))
        snapshot["grad"] = model.classifier.weight.grad.clone()
        snapshot["weight"] = model.classifier.weight.detach().clone()

    def after_step(context) -> None:
        # AdaLoRA's rank allocation reads this step's gradients after optimizer.step().
        assert model.classifier.weight.grad is not None, "gradients were zeroed before the hook"
        assert torch.equal(model.classifier.weight.grad, snapshot["grad"])
        assert not torch.equal(model.classifier.weight, snapshot["weight"]), "no step was taken"
        seen.append(("after_optimizer_step", context.state.global_step))

    hooks = TrainingHooks(
        after_backward=[after_backward],
        before_optimizer_step=[before_step],
        after_optimizer_step=[after_step],
    )
    setup = make_setup(tmp_path, hooks=hooks, max_steps=2, max_grad_norm=1e-3, learning_rate=1e-3)

    fit(model, per_topic(bbc_features, 4), setup)

    assert [name for name, _ in seen] == [
        "after_backward",
        "before_optimizer_step",
        "after_optimizer_step",
    ] * 2
    # Clipping happens between the two gradient hooks.
    assert seen[0][1] > 1e-2
    assert seen[1][1] == pytest.approx(1e-3, rel=1e-3)
    assert [value for name, value in seen if name == "after_optimizer_step"] == [1, 2]


@pytest.mark.parametrize(
    ("metrics", "higher_is_better", "stop_step", "best_step"),
    [
        # Better at evals 1 and 2, then not at 3 and 4: patience 2 runs out at step 4.
        ([1.0, 0.9, 0.95, 0.97, 0.5, 0.4], False, 4, 2),
        # An improvement at eval 4 resets the count; 5 and 6 do not improve (equal is not better).
        ([0.5, 0.6, 0.55, 0.7, 0.65, 0.7, 0.9, 0.95], True, 6, 4),
    ],
    ids=["lower-is-better", "higher-is-better-with-reset"],
)
def test_loop_early_stopping_after_patience(
    tmp_path, bbc_features, make_model, make_setup, metrics, higher_is_better, stop_step, best_step
):
    model = make_model()
    weights_at_eval: list[torch.Tensor] = []
    evaluations = []

    def evaluate(evaluated: torch.nn.Module) -> dict[str, float]:
        weights_at_eval.append(evaluated.classifier.weight.detach().clone())
        return {"score": metrics[len(weights_at_eval) - 1]}

    hooks = TrainingHooks(
        on_evaluate=[lambda context: evaluations.append(context.state.global_step)]
    )
    setup = make_setup(
        tmp_path,
        hooks=hooks,
        evaluate=evaluate,
        metric_for_best="score",
        higher_is_better=higher_is_better,
        eval_every_steps=1,
        early_stopping_patience=2,
        max_steps=10,
        learning_rate=1e-3,
    )

    state = fit(model, per_topic(bbc_features, 4)[:8], setup)

    assert state.stopped_early
    assert state.global_step == stop_step
    assert evaluations == list(range(1, stop_step + 1))
    assert [row["eval_score"] for row in state.history if "eval_score" in row] == metrics[
        :stop_step
    ]
    assert (state.best_step, state.best_metric) == (best_step, metrics[best_step - 1])
    # On return the model holds the best weights, not the last ones.
    assert torch.equal(model.classifier.weight, weights_at_eval[best_step - 1])
    assert not torch.equal(model.classifier.weight, weights_at_eval[-1])


# Exact resume: 12 articles, 3 optimizer steps per epoch, 7 steps, a checkpoint every 2 steps
# (and at epoch ends 3 and 6); linear decay after one warmup step, so the scheduler state matters.
RESUME_STEPS = 7


def _resume_setup(make_setup, directory: Path, accumulation: int, log_every: int, **kwargs):
    return make_setup(
        directory,
        batch_size=4 // accumulation,
        gradient_accumulation_steps=accumulation,
        log_every_steps=log_every,
        max_steps=RESUME_STEPS,
        checkpoint_every_steps=2,
        warmup_ratio=0.2,
        learning_rate=3e-4,
        **kwargs,
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, bbc_features, make_model, make_setup):
    """``uninterrupted(accumulation, log_every)``: final parameters and state of a run that was
    never stopped (computed once per setting)."""
    runs: dict[tuple[int, int], tuple[dict[str, torch.Tensor], dict[str, Any]]] = {}

    def run(accumulation: int, log_every: int):
        if (accumulation, log_every) not in runs:
            model = make_model()
            directory = tmp_path_factory.mktemp("uninterrupted")
            torch.manual_seed(0)  # dropout's generator, as pipeline.run seeds it
            state = fit(
                model,
                per_topic(bbc_features, 4),
                _resume_setup(make_setup, directory, accumulation, log_every),
            )
            runs[accumulation, log_every] = (copy.deepcopy(model.state_dict()), asdict(state))
        return runs[accumulation, log_every]

    return run


@pytest.mark.parametrize(
    ("accumulation", "log_every", "same_model_object"),
    [(1, 1, False), (2, 3, True)],
    ids=["new-process", "in-process-retry-with-accumulation"],
)
def test_loop_resume_after_crash_is_exact(
    tmp_path,
    bbc_features,
    make_model,
    make_setup,
    uninterrupted,
    accumulation,
    log_every,
    same_model_object,
):
    features = per_topic(bbc_features, 4)
    expected_parameters, expected_state = uninterrupted(accumulation, log_every)

    def crash_at_step_5(context) -> None:
        if context.state.global_step == 5:
            raise _Crash

    model = make_model()
    crashing = _resume_setup(
        make_setup,
        tmp_path,
        accumulation,
        log_every,
        hooks=TrainingHooks(after_optimizer_step=[crash_at_step_5]),
    )
    torch.manual_seed(0)
    with pytest.raises(_Crash):
        fit(model, features, crashing)
    # The last checkpoint is from step 4, mid-epoch; step 5's update is lost and redone.
    assert read_loop_state(tmp_path / "last")["global_step"] == 4

    resumed_model = model if same_model_object else make_model()
    resumed = _resume_setup(make_setup, tmp_path, accumulation, log_every, resume=True)
    torch.manual_seed(1)  # dropout must draw from the generator state saved in the checkpoint
    state = fit(resumed_model, features, resumed)

    assert state.global_step == RESUME_STEPS
    _assert_same_parameters(resumed_model, expected_parameters)
    assert state.history == expected_state["history"]
    assert without_wall_time(asdict(state)) == without_wall_time(expected_state)
    assert not torch.equal(
        expected_parameters["classifier.weight"], make_model().classifier.weight
    ), "the run did not train at all"


def test_loop_sigint_saves_checkpoint_and_resumes_exactly(
    tmp_path, bbc_features, make_model, make_setup, uninterrupted
):
    features = per_topic(bbc_features, 4)
    expected_parameters, expected_state = uninterrupted(1, 1)
    handler_before = signal.getsignal(signal.SIGINT)

    def ctrl_c_at_step_5(context) -> None:
        if context.state.global_step == 5:
            os.kill(os.getpid(), signal.SIGINT)

    model = make_model()
    interrupting = _resume_setup(
        make_setup, tmp_path, 1, 1, hooks=TrainingHooks(after_optimizer_step=[ctrl_c_at_step_5])
    )
    torch.manual_seed(0)
    with pytest.raises(TrainingInterrupted, match="step 5/7"):
        fit(model, features, interrupting)

    assert signal.getsignal(signal.SIGINT) is handler_before
    found = existing_checkpoint(tmp_path / "last")
    assert found is not None
    assert read_loop_state(found)["global_step"] == 5  # stopped after the step, then saved

    torch.manual_seed(1)
    state = fit(model, features, _resume_setup(make_setup, tmp_path, 1, 1, resume=True))

    _assert_same_parameters(model, expected_parameters)
    assert without_wall_time(asdict(state)) == without_wall_time(expected_state)


@pytest.mark.parametrize(
    ("value", "loss", "higher_is_better", "expected"),
    [
        (0.9, 1.0, True, True),  # better metric, even with a worse loss
        (0.7, 0.1, True, False),  # worse metric, even with a better loss
        (0.8, 0.4, True, True),  # tie on the metric, lower validation loss
        (0.8, 0.6, True, False),  # tie on the metric, higher validation loss
        (0.3, 9.0, False, True),  # lower is better (e.g. mse)
    ],
)
def test_loop_is_improvement_breaks_ties_by_loss(value, loss, higher_is_better, expected) -> None:
    from tuneforge.training.loop import TrainState, is_improvement

    state = TrainState(total_steps=10, steps_per_epoch=5, best_metric=0.8, best_loss=0.5)
    if not higher_is_better:
        state.best_metric = 0.5
    assert is_improvement(value, loss, state, higher_is_better) is expected


def test_loop_patience_running_out_at_the_last_step_is_not_an_early_stop(
    tmp_path, bbc_features, make_model, make_setup
):
    scores = iter([0.9, 0.5, 0.4])  # best first; patience 2 runs out exactly at step 3 of 3
    setup = make_setup(
        tmp_path,
        evaluate=lambda model: {"score": next(scores)},
        metric_for_best="score",
        higher_is_better=True,
        eval_every_steps=1,
        early_stopping_patience=2,
        max_steps=3,
    )

    state = fit(make_model(), per_topic(bbc_features, 4)[:8], setup)

    assert state.global_step == 3
    assert state.evals_without_improvement == 2
    assert not state.stopped_early
