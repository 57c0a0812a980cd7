"""The training loop: warmup and decay, accumulation, clipping, bf16 autocast, periodic evaluation
with early stopping, and atomic checkpoints that resume bit-for-bit.

Built on accelerate (device placement, DDP, autocast, backward, clipping) rather than the HF
Trainer, so that every step is visible here. What differs between training recipes is passed in,
with today's behaviour as the default: the optimizer factory (optim.py), the batch sampler
(sampling.py), the training step (steps.py) and the hooks (hooks.py). DP-SGD swaps sampler,
optimizer and step; adversarial training swaps the step; distillation adds a loss term.

Rank-aware: every process trains on its shard of each epoch's batches; only the main process
writes checkpoints and shows progress.
"""

from __future__ import annotations

import math
import signal
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from tuneforge._allocator import keep_freed_memory
from tuneforge.config import TrainingConfig
from tuneforge.inference import collate
from tuneforge.training.accelerator import make_accelerator
from tuneforge.training.attention import training_attention
from tuneforge.training.checkpoint import Checkpoints
from tuneforge.training.dropout import training_dropout
from tuneforge.training.hooks import TrainingHooks, run_hooks
from tuneforge.training.optim import OptimizerFactory, adamw, warmup_then_decay
from tuneforge.training.progress import TrainingProgress
from tuneforge.training.sampling import BatchSampler, ShuffledBatches, batches_per_process, shard
from tuneforge.training.steps import MicroBatch, TrainingStep, forward_backward

Evaluate = Callable[[torch.nn.Module], dict[str, float]]


class TrainingInterrupted(Exception):
    """Ctrl-C during training: a checkpoint was written; `--resume` continues from it."""


@dataclass
class TrainState:
    """The loop's position and record; saved in every checkpoint as JSON."""

    total_steps: int
    steps_per_epoch: int
    global_step: int = 0
    epoch: int = 0
    batches_done_in_epoch: int = 0
    best_metric: float | None = None
    best_step: int | None = None
    best_loss: float | None = None
    """Validation loss at the best step: breaks ties of metric_for_best."""
    evals_without_improvement: int = 0
    stopped_early: bool = False
    finished: bool = False
    pending_loss_sum: float = 0.0
    """Train loss summed over the batches since the last log step (so a resumed run logs the
    same numbers as an uninterrupted one)."""
    pending_loss_batches: int = 0
    train_seconds: float = 0.0
    """Wall time in training steps (evaluations excluded), summed over resumed sessions."""
    samples_seen: int = 0
    """Training examples consumed by all processes together."""
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class StepContext:
    """What hooks see: the live model and optimizer, the loop state, the last loss."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    state: TrainState
    loss: torch.Tensor | None = None
    accelerator: Any = None


@dataclass
class FitSetup:
    """Everything the loop needs besides the model and data."""

    config: TrainingConfig
    pad_token_id: int
    checkpoint_dir: Path | None = None
    """Where `last/` (resumable) and `best/` are written; None: no files at all (search trials,
    federated rounds), the best weights are kept in memory and the run cannot resume."""
    precision: str = "fp32"
    device: torch.device | None = None
    """torch.device("cpu") forces the CPU; None lets accelerate place the model (the local
    rank's GPU under torchrun, CUDA when present, else the CPU)."""
    evaluate: Evaluate | None = None
    """Validation metrics of the model; None: no evaluation, the last weights are kept."""
    metric_for_best: str = "loss"
    higher_is_better: bool = False
    hooks: TrainingHooks = field(default_factory=TrainingHooks)
    resume: bool = False
    show_progress: bool = True
    sampler: BatchSampler | None = None
    """Which examples each micro-batch holds; None: every example once per epoch, seeded
    shuffling, grouped by length when config.group_by_length."""
    optimizer_factory: OptimizerFactory = adamw
    training_step: TrainingStep = forward_backward


def fit(model: torch.nn.Module, features: list[dict[str, Any]], setup: FitSetup) -> TrainState:
    """Train `model` on `features`; on return the model holds the best weights seen."""
    config = setup.config
    keep_freed_memory()  # every path that trains (recovery, distillation, trials), not only the CLI
    accelerator = make_accelerator(setup.precision, setup.device)
    device = accelerator.device
    sampler = setup.sampler or ShuffledBatches(
        [len(feature["input_ids"]) for feature in features],
        config.batch_size,
        config.seed,
        config.group_by_length,
    )
    world_size, rank = accelerator.num_processes, accelerator.process_index
    steps_per_epoch, total_steps = optimizer_steps(
        batches_per_process(sampler.num_batches(), world_size), config
    )
    model.to(device)
    optimizer = setup.optimizer_factory(model, config)
    model, optimizer = accelerator.prepare(model, optimizer)
    scheduler = warmup_then_decay(optimizer, config, total_steps)
    state = TrainState(total_steps=total_steps, steps_per_epoch=steps_per_epoch)
    checkpoints = Checkpoints(setup.checkpoint_dir, accelerator)
    if setup.resume:
        state = checkpoints.resume(state, accelerator.unwrap_model(model), optimizer, scheduler)
    else:
        checkpoints.clear()  # a fresh start must never end on a stale best/ of an earlier run

    context = StepContext(model=model, optimizer=optimizer, state=state, accelerator=accelerator)
    interrupted = _InterruptFlag()

    def save_last() -> None:
        state.train_seconds = clock.total()
        state.pending_loss_sum = float(running_loss)
        state.pending_loss_batches = running_batches
        checkpoints.save_last(accelerator.unwrap_model(model), asdict(state), optimizer, scheduler)

    def evaluate_and_track() -> None:
        metrics = setup.evaluate(accelerator.unwrap_model(model))
        row = {"step": state.global_step, "epoch": _epoch_float(state)}
        row.update({f"eval_{name}": value for name, value in metrics.items()})
        state.history.append(row)
        run_hooks(setup.hooks.on_evaluate, context)
        value = metrics.get(setup.metric_for_best)
        if value is None or math.isnan(value):
            return
        loss = metrics.get("loss", math.inf)
        if is_improvement(value, loss, state, setup.higher_is_better):
            state.best_metric, state.best_step = value, state.global_step
            state.best_loss = loss
            state.evals_without_improvement = 0
            checkpoints.save_best(accelerator.unwrap_model(model), asdict(state))
        else:
            state.evals_without_improvement += 1
            patience = config.early_stopping_patience
            # Running out of patience at the last step cuts nothing short: not an early stop.
            state.stopped_early = (
                patience is not None
                and state.evals_without_improvement >= patience
                and state.global_step < state.total_steps
            )

    def loss_terms_applied(batch: dict[str, torch.Tensor]) -> Callable[[Any], torch.Tensor]:
        def loss_of(outputs: Any) -> torch.Tensor:
            loss = outputs.loss
            for term in setup.hooks.loss_terms:
                loss = term(model, batch, outputs, loss)
            return loss

        return loss_of

    progress = TrainingProgress(
        total_steps, enabled=setup.show_progress and accelerator.is_main_process
    )
    model.train()
    # Gradients left on the parameters by an earlier call that crashed between backward and
    # zero_grad (an in-process retry with resume=True) would leak into the first step.
    optimizer.zero_grad(set_to_none=True)
    running_loss = torch.full((), state.pending_loss_sum, device=device)
    running_batches = state.pending_loss_batches
    attention = training_attention(
        accelerator.unwrap_model(model), config.attention_implementation, device
    )
    dropout = training_dropout(config.dropout_generator, device)
    clock = _TrainingClock(state.train_seconds)
    with interrupted, progress, attention, dropout:
        progress.advance_to(state.global_step)
        while state.global_step < total_steps and not state.stopped_early:
            batches = shard(sampler.epoch_batches(state.epoch), rank, world_size)
            for position in range(state.batches_done_in_epoch, len(batches)):
                group_start = position - position % config.gradient_accumulation_steps
                group_size = min(config.gradient_accumulation_steps, len(batches) - group_start)
                last_in_group = position + 1 == group_start + group_size
                indices = batches[position]
                # A Poisson-sampled (DP-SGD) batch can be empty; its step still takes place.
                batch = (
                    collate([features[i] for i in indices], setup.pad_token_id) if indices else {}
                )
                batch = {key: value.to(device) for key, value in batch.items()}
                # DDP averages gradients across processes at the group's last backward only.
                with _gradient_sync(accelerator, model, last_in_group):
                    loss = setup.training_step(
                        MicroBatch(
                            model=model,
                            batch=batch,
                            loss_of=loss_terms_applied(batch),
                            backward=lambda loss, size=group_size: accelerator.backward(
                                loss / size
                            ),
                            loss_of_rows=loss_terms_applied,
                        )
                    )
                context.loss = loss
                state.samples_seen += len(batches[position]) * world_size
                running_loss += loss
                running_batches += 1
                progress.add_samples(len(batches[position]) * world_size)
                state.batches_done_in_epoch = position + 1
                if not last_in_group:
                    continue
                run_hooks(setup.hooks.after_backward, context)
                if config.max_grad_norm is not None:
                    accelerator.clip_grad_norm_(model.parameters(), config.max_grad_norm)
                run_hooks(setup.hooks.before_optimizer_step, context)
                optimizer.step()
                scheduler.step()
                state.global_step += 1
                # Before zero_grad: AdaLoRA's rank allocation reads the step's gradients.
                run_hooks(setup.hooks.after_optimizer_step, context)
                optimizer.zero_grad(set_to_none=True)
                if (
                    state.global_step % config.log_every_steps == 0
                    or state.global_step == total_steps
                ):
                    # The only host sync of the step: the loss is read at log steps alone.
                    train_loss = float(running_loss) / max(running_batches, 1)
                    running_loss.zero_()
                    running_batches = 0
                    state.history.append(
                        {
                            "step": state.global_step,
                            "epoch": _epoch_float(state),
                            "train_loss": train_loss,
                            "learning_rate": scheduler.get_last_lr()[0],
                        }
                    )
                    progress.advance_to(state.global_step)
                    progress.show_loss(train_loss, scheduler.get_last_lr()[0])
                progress.advance_to(state.global_step)
                epoch_done = state.batches_done_in_epoch == len(batches)
                final = state.global_step >= total_steps
                should_evaluate = (
                    (
                        config.eval_every_steps is not None
                        and state.global_step % config.eval_every_steps == 0
                    )
                    or (config.eval_every_steps is None and epoch_done)
                    or final
                )
                if epoch_done:
                    state.epoch += 1
                    state.batches_done_in_epoch = 0
                    run_hooks(setup.hooks.on_epoch_end, context)
                if should_evaluate and setup.evaluate is not None:
                    progress.pause()
                    clock.pause()
                    evaluate_and_track()
                    clock.resume()
                    progress.resume()
                final = final or state.stopped_early
                state.finished = final
                periodic = (
                    config.checkpoint_every_steps is not None
                    and state.global_step % config.checkpoint_every_steps == 0
                )
                if final or should_evaluate or periodic or epoch_done or interrupted.requested:
                    save_last()
                if interrupted.requested:
                    raise TrainingInterrupted(
                        f"Interrupted at step {state.global_step}/{total_steps}; checkpoint saved."
                    )
                if final or epoch_done:
                    break

    state.train_seconds = clock.total()
    unwrapped = accelerator.unwrap_model(model, keep_fp32_wrapper=False)
    checkpoints.load_best(unwrapped)
    return state


def is_improvement(value: float, loss: float, state: TrainState, higher_is_better: bool) -> bool:
    """Whether an evaluation beats the best so far on metric_for_best."""
    if state.best_metric is None:
        return True
    if value != state.best_metric:
        return value > state.best_metric if higher_is_better else value < state.best_metric
    # A tie on a saturated validation metric (accuracy 1.0 on a small split) is broken by the
    # validation loss: the more confident model generalises better.
    return state.best_loss is not None and loss < state.best_loss


def count_steps(num_examples: int, config: TrainingConfig, world_size: int = 1) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps) of the default sampler's run."""
    batches = math.ceil(num_examples / config.batch_size)
    return optimizer_steps(batches_per_process(batches, world_size), config)


def optimizer_steps(batches_per_epoch: int, config: TrainingConfig) -> tuple[int, int]:
    """(optimizer steps per epoch, total optimizer steps) for one process's batches."""
    steps_per_epoch = math.ceil(batches_per_epoch / config.gradient_accumulation_steps)
    return steps_per_epoch, config.max_steps or max(1, math.ceil(config.epochs * steps_per_epoch))


def _epoch_float(state: TrainState) -> float:
    return round(state.global_step / max(state.steps_per_epoch, 1), 4)


def _gradient_sync(accelerator: Any, model: torch.nn.Module, sync: bool) -> Any:
    import contextlib

    if sync or accelerator.num_processes == 1:
        return contextlib.nullcontext()
    return accelerator.no_sync(model)


class _TrainingClock:
    """Seconds spent training, evaluations excluded, on top of what earlier sessions spent."""

    def __init__(self, earlier_seconds: float) -> None:
        self._earlier = earlier_seconds
        self._started = time.perf_counter()
        self._paused_at: float | None = None
        self._paused = 0.0

    def pause(self) -> None:
        self._paused_at = time.perf_counter()

    def resume(self) -> None:
        if self._paused_at is not None:
            self._paused += time.perf_counter() - self._paused_at
            self._paused_at = None

    def total(self) -> float:
        now = self._paused_at if self._paused_at is not None else time.perf_counter()
        return self._earlier + now - self._started - self._paused


class _InterruptFlag:
    """Turns the first Ctrl-C into a request to stop after the current optimizer step."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self) -> _InterruptFlag:
        try:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        except ValueError:  # not the main thread: leave signals alone
            self._previous = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
