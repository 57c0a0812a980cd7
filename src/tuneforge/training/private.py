"""Differentially private fine-tuning: DP-SGD (Abadi et al., 2016) on Opacus, as a training
recipe that fills the loop's slots: a Poisson sampler, a clipping-and-noising optimizer, a step
that computes per-example gradients in pieces, and hooks that keep the noise reproducible.

Opacus supplies the per-example gradients (`GradSampleModule`), the clipping and noise
(`DPOptimizer`) and the accountants; what is written here is how they meet tuneforge's loop:

- One logical batch is one Poisson sample of the training rows (each row joins with probability
  q = batch_size / n, the sampling the accountant's bound assumes), processed in pieces of
  training.batch_size whose clipped gradients are summed before one noisy step (what Opacus's
  `BatchMemoryManager` does for a DataLoader). An empty sample still takes a step: noise only.
- The accountant's history is (noise multiplier, q, optimizer steps): the loop's step counter
  restores it exactly after a resume, with nothing more to save.
- Noise comes from a generator reseeded from (seed, step) before every step, so a resumed run
  draws the same noise as an uninterrupted one. It is a seeded PRNG, not Opacus's secure mode
  (which needs torchcsprng): fine against the membership attacks DP is measured with, not
  against an adversary who attacks floating-point sampling itself.
"""

from __future__ import annotations

import contextlib
import functools
import math
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import torch

from tuneforge.console import console
from tuneforge.errors import ConfigError
from tuneforge.inference import MODEL_INPUTS
from tuneforge.training.gradient_norms import GradientNorms, describe
from tuneforge.training.sampling import epoch_generator

if TYPE_CHECKING:
    from tuneforge.config import PrivacyConfig, TrainingConfig
    from tuneforge.training.hooks import TrainingHooks
    from tuneforge.training.loop import StepContext
    from tuneforge.training.steps import MicroBatch

_EPSILON_TOLERANCE = 0.01
"""How far below target_epsilon a derived noise multiplier lands (Opacus's search tolerance)."""


GHOST_REDUCED_PRECISION_MARGIN = 2**-6
"""How far short of the clip ghost clipping cuts when its second pass runs in bf16 or fp16:
several times the 0.47% overshoot measured without it."""
CLIP_KEY = "dp_clip"
"""The key of the current clip in the DP optimizer's first parameter group (see
PrivateTraining.optimizer_factory)."""


def _opacus() -> Any:
    try:
        import opacus
    except ImportError as exc:
        raise ConfigError("privacy: DP-SGD needs Opacus: pip install 'tuneforge[dp]'.") from exc
    return opacus


@dataclass(frozen=True)
class PrivacyPlan:
    """What a private run will do and spend, fixed before its first step."""

    noise_multiplier: float
    sample_rate: float
    """q: the probability that a training row joins a step."""
    expected_batch_size: int
    physical_batch_size: int
    max_grad_norm: float
    delta: float
    target_epsilon: float | None
    accountant: str
    training_rows: int
    steps_per_epoch: int
    planned_steps: int
    """Optimizer steps the training config asks for."""
    allowed_steps: int
    """Optimizer steps the budget allows (planned_steps when it allows them all)."""
    clipping: str = "per_example"
    """per_example (materialised per-example gradients) or ghost (norms only, two backward
    passes); the same update either way."""
    head_clip_fraction: float | None = None
    """The task head's share of max_grad_norm under group-wise clipping; None: one clip."""
    clip_quantile: float | None = None
    """Adaptive clipping's target quantile of the gradient norms; None: a fixed clip."""
    clip_learning_rate: float = 0.2

    @property
    def group_clips(self) -> tuple[float, float] | None:
        """(head, rest) clipping norms under group-wise clipping, whose squares sum to
        max_grad_norm's; None under one clip."""
        return self.clips_at(self.max_grad_norm) if self.head_clip_fraction is not None else None

    def clips_at(self, clip: float) -> tuple[float, ...]:
        """The clipping norms for a total clip: (clip,), or (head, rest) whose squares sum to
        its square under group-wise clipping."""
        if self.head_clip_fraction is None:
            return (clip,)
        fraction = self.head_clip_fraction
        return (clip * fraction, clip * math.sqrt(1 - fraction**2))

    @property
    def count_noise(self) -> float | None:
        """Adaptive clipping: the std of the noise on the count of unclipped examples (Andrew
        et al.'s expected batch / 20); None with a fixed clip."""
        return None if self.clip_quantile is None else self.expected_batch_size / 20

    @property
    def gradient_noise_multiplier(self) -> float:
        """The noise on the summed gradients, over the clip. With adaptive clipping, z_grad
        solves z^-2 = z_grad^-2 + (2 sigma_count)^-2 (Andrew et al., Theorem 1): the gradient
        and the count together are one Gaussian mechanism of multiplier z, which the
        accountant counts."""
        if self.count_noise is None:
            return self.noise_multiplier
        return (self.noise_multiplier**-2 - (2 * self.count_noise) ** -2) ** -0.5

    def epsilon(self, steps: int) -> float:
        """The epsilon spent after `steps` noisy steps (0 before the first)."""
        return spent_epsilon(
            self.noise_multiplier, self.sample_rate, steps, self.delta, self.accountant
        )

    def report(self, steps: int, final_clip: float | None = None) -> dict[str, Any]:
        """The `privacy` block of metrics.json, the model card and the registry; `final_clip`:
        where adaptive clipping left the clip (derived from noisy counts only: releasable)."""
        adaptive = (
            {
                "clip_quantile": self.clip_quantile,
                "clip_learning_rate": self.clip_learning_rate,
                "gradient_noise_multiplier": round(self.gradient_noise_multiplier, 6),
                "final_clip": round(final_clip, 6) if final_clip is not None else None,
            }
            if self.clip_quantile is not None
            else {}
        )
        return {
            "epsilon": round(self.epsilon(steps), 4),
            "delta": self.delta,
            "target_epsilon": self.target_epsilon,
            "noise_multiplier": round(self.noise_multiplier, 6),
            "sample_rate": self.sample_rate,
            "expected_batch_size": self.expected_batch_size,
            "max_grad_norm": self.max_grad_norm,
            "steps": steps,
            "planned_steps": self.planned_steps,
            "budget_exhausted": steps >= self.allowed_steps
            and self.allowed_steps < self.planned_steps,
            "accountant": self.accountant,
            "clipping": self.clipping,
            "head_clip_fraction": self.head_clip_fraction,
            "training_rows": self.training_rows,
            **adaptive,
        }


def spent_epsilon(
    noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str
) -> float:
    """Epsilon of `steps` Poisson-subsampled Gaussian steps, by Opacus's accountant."""
    if steps <= 0:
        return 0.0
    return _cached_epsilon(noise_multiplier, sample_rate, steps, delta, accountant)


@lru_cache(maxsize=256)
def _cached_epsilon(
    noise_multiplier: float, sample_rate: float, steps: int, delta: float, accountant: str
) -> float:
    _opacus()  # a missing extra gets its message, not a bare ImportError
    from opacus.accountants import create_accountant

    tracker = create_accountant(accountant)
    tracker.history = [(noise_multiplier, sample_rate, steps)]
    with _quiet_accountant():
        return float(tracker.get_epsilon(delta=delta))


@contextlib.contextmanager
def _quiet_hooks() -> Iterator[None]:
    """Opacus's backward hooks make torch warn, once per call site, that they fire on module
    outputs when no input needs a gradient (the token ids): expected here, not the user's concern."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        yield


@contextlib.contextmanager
def _quiet_accountant() -> Iterator[None]:
    """Opacus's RDP analysis warns when its best Renyi order is the largest it tries: the
    bound is then looser than it could be, never wrong. Not a user's concern mid-run."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        yield


def plan_privacy(
    privacy: PrivacyConfig,
    training: TrainingConfig,
    training_rows: int,
    adaptation_method: str = "lora",
) -> PrivacyPlan:
    """Sampling rate, delta, noise and the steps the budget allows, for `training_rows` rows
    (and the clipping, which privacy.clipping auto picks by `adaptation_method`).

    Raises:
        ConfigError: delta is not below 1 / n, the batch is larger than the data, or a given
            noise multiplier cannot afford a single step within target_epsilon.
    """
    _opacus()
    n = training_rows
    expected = privacy.batch_size or training.batch_size * training.gradient_accumulation_steps
    if expected > n:
        raise ConfigError(
            f"privacy.batch_size: {expected} examples per step is more than the {n} training "
            "rows; lower privacy.batch_size (or training.batch_size)."
        )
    if privacy.target_delta == "auto":
        delta = 1.0 / (10 * n)
    else:
        delta = float(privacy.target_delta)
        if delta >= 1.0 / n:
            raise ConfigError(
                f"privacy.target_delta: {delta:g} is not below 1/n = {1.0 / n:.3g} for the {n} "
                "training rows: a mechanism that publishes one row in full would meet it. Use "
                "auto (1/(10 n)) or a smaller value."
            )
    sample_rate = expected / n
    steps_per_epoch = math.ceil(n / expected)
    planned = training.max_steps or max(1, math.ceil(training.epochs * steps_per_epoch))
    if privacy.noise_multiplier is not None:
        sigma = privacy.noise_multiplier
    else:
        from opacus.accountants.utils import get_noise_multiplier

        with _quiet_accountant():
            sigma = get_noise_multiplier(
                target_epsilon=privacy.target_epsilon,
                target_delta=delta,
                sample_rate=sample_rate,
                steps=planned,
                accountant=privacy.accountant,
                epsilon_tolerance=_EPSILON_TOLERANCE,
            )
        sigma = float(sigma)
    allowed = planned
    if privacy.target_epsilon is not None:
        allowed = _steps_within(
            privacy.target_epsilon, sigma, sample_rate, planned, delta, privacy.accountant
        )
        if allowed == 0:
            raise ConfigError(
                f"privacy.noise_multiplier: {sigma:g} spends more than target_epsilon "
                f"{privacy.target_epsilon:g} in one step at sampling rate {sample_rate:.3g}; "
                "raise it or leave it out (it is then derived from the target)."
            )
    if privacy.clip_quantile is not None and 2 * expected / 20 <= sigma:
        raise ConfigError(
            f"privacy.clip_quantile: adaptive clipping at noise multiplier {sigma:.3g} needs an "
            f"expected batch above {math.floor(10 * sigma)} (the count it steers by is noised "
            f"with std batch / 20, which must exceed half the multiplier); it is {expected}: "
            "raise privacy.batch_size, or drop clip_quantile"
        )
    return PrivacyPlan(
        noise_multiplier=sigma,
        sample_rate=sample_rate,
        expected_batch_size=expected,
        physical_batch_size=training.batch_size,
        max_grad_norm=privacy.max_grad_norm,
        delta=delta,
        target_epsilon=privacy.target_epsilon,
        accountant=privacy.accountant,
        training_rows=n,
        steps_per_epoch=steps_per_epoch,
        planned_steps=planned,
        allowed_steps=allowed,
        clipping=privacy.clipping_for(adaptation_method),
        head_clip_fraction=privacy.head_clip_fraction,
        clip_quantile=privacy.clip_quantile,
        clip_learning_rate=privacy.clip_learning_rate,
    )


def _steps_within(
    budget: float, sigma: float, sample_rate: float, planned: int, delta: float, accountant: str
) -> int:
    """The most steps (at most `planned`) whose epsilon stays within `budget`."""
    if spent_epsilon(sigma, sample_rate, planned, delta, accountant) <= budget:
        return planned
    low, high = 0, planned  # epsilon(low) <= budget < epsilon(high); epsilon grows with steps
    while high - low > 1:
        middle = (low + high) // 2
        if spent_epsilon(sigma, sample_rate, middle, delta, accountant) <= budget:
            low = middle
        else:
            high = middle
    return low


class PoissonBatches:
    """Logical batches of a private run: each row joins each batch independently with
    probability q, steps_per_epoch batches an epoch; seeded by (seed, epoch) so a resume
    rebuilds the same batches (the loop's sampler contract)."""

    def __init__(self, num_examples: int, sample_rate: float, steps_per_epoch: int, seed: int):
        self.num_examples = num_examples
        self.sample_rate = sample_rate
        self.steps_per_epoch = steps_per_epoch
        self.seed = seed

    def num_batches(self) -> int:
        return self.steps_per_epoch

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        generator = epoch_generator(self.seed, epoch)
        # One row of draws at a time: memory stays O(n), not O(n x steps per epoch).
        return [
            torch.nonzero(torch.rand(self.num_examples, generator=generator) < self.sample_rate)
            .flatten()
            .tolist()
            for _ in range(self.steps_per_epoch)
        ]


class PrivateTraining:
    """DP-SGD's slots of `fit`: sampler, optimizer factory, training step and hooks.

    One instance trains one model once: the optimizer factory attaches Opacus's per-example
    gradient hooks to the model it is given, and `detach` removes them after training.
    """

    def __init__(self, plan: PrivacyPlan, seed: int, announce: bool = True):
        """
        Args:
            announce: print the plan and the epsilon spent at each evaluation (the main
                process does; other ranks and quiet callers do not).
        """
        self.plan = plan
        self.seed = seed
        self.announce = announce
        self.sampler = PoissonBatches(
            plan.training_rows, plan.sample_rate, plan.steps_per_epoch, seed
        )
        self._grad_sample_module: Any = None
        self._optimizer: Any = None
        self._noise = torch.Generator()
        self._pieces = _PieceSize()
        self._samples: _SamplesInFp32 | None = None
        self._pre_hooks: list[Any] = []
        self.gradient_norms = GradientNorms()
        """What clipping did (data-dependent, outside the DP guarantee: for whoever trains)."""
        self._unclipped: torch.Tensor | None = None
        """Examples of the current step whose gradient the clip did not cut (adaptive
        clipping's count, before its noise)."""

    def training_config(self, training: TrainingConfig) -> TrainingConfig:
        """The loop's settings under DP: one logical batch per optimizer step, no global
        clipping (each example is clipped instead), and no more steps than the budget allows."""
        return training.model_copy(
            update={
                "gradient_accumulation_steps": 1,
                "max_grad_norm": None,
                "max_steps": self.plan.allowed_steps,
                # The sampler is Poisson; length grouping does not apply to it.
                "group_by_length": False,
            }
        )

    def optimizer_factory(
        self, base: Callable[[torch.nn.Module, TrainingConfig], torch.optim.Optimizer]
    ) -> Callable[[torch.nn.Module, TrainingConfig], torch.optim.Optimizer]:
        def make(model: torch.nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
            opacus = _opacus()
            ghost = self._ghost
            # The hooks go on the model's own modules; the loop keeps calling the model itself,
            # so checkpoints and the saved model carry no wrapper prefix.
            if ghost:
                from opacus.grad_sample import GradSampleModuleFastGradientClipping

                self._grad_sample_module = GradSampleModuleFastGradientClipping(
                    model,
                    loss_reduction="mean",
                    max_grad_norm=self.plan.max_grad_norm,
                    use_ghost_clipping=True,
                )
            else:
                self._grad_sample_module = opacus.GradSampleModule(model, loss_reduction="mean")
            self._samples = _SamplesInFp32(self._grad_sample_module)
            self._pre_hooks = _expand_broadcast_embedding_inputs(model, self._pieces)
            device = next(model.parameters()).device
            self._noise = torch.Generator(device=device)
            settings: dict[str, Any] = {}
            if ghost:
                optimizer_class = opacus.optimizers.DPOptimizerFastGradientClipping
            else:
                optimizer_class = _clipping_optimizer()
                grouped = self.plan.group_clips is not None
                settings = {
                    "clips": self.plan.clips_at(self.plan.max_grad_norm),
                    "head": _task_head_parameters(model) if grouped else set(),
                    "record": self._record_norms,
                }
            self._optimizer = optimizer_class(
                base(model, config),
                noise_multiplier=self.plan.gradient_noise_multiplier,
                max_grad_norm=self.plan.max_grad_norm,
                expected_batch_size=self.plan.expected_batch_size,
                loss_reduction="mean",
                generator=self._noise,
                **settings,
            )
            # The clip lives in the optimizer's first parameter group: checkpoints save and
            # restore it with the optimizer, so a resumed adaptive run goes on from its clip.
            self._optimizer.param_groups[0][CLIP_KEY] = self.plan.max_grad_norm
            return self._optimizer

        return make

    def step(self, micro_batch: MicroBatch) -> torch.Tensor:
        """One logical batch: forward and backward piece by piece, each piece's per-example
        gradients clipped and summed into the optimizer; the loop's `optimizer.step()` then
        clips the last piece, adds the noise and updates."""
        optimizer = self._optimizer
        self._apply_clip()
        batch = micro_batch.batch
        size = int(batch["input_ids"].shape[0]) if batch else 0
        if size == 0:
            # An empty Poisson sample: no gradient, but the step happens (noise only), as the
            # accountant assumes.
            if self._ghost:
                self._zero_missing_grads()
            else:
                self._zero_grad_samples(0)
            return torch.zeros(())
        piece = self.plan.physical_batch_size
        starts = list(range(0, size, piece))
        total = torch.zeros((), device=batch["input_ids"].device)
        # Rows of similar length share a piece, so each piece is cut to little padding (a
        # Poisson batch is a random draw; the sum of clipped gradients does not depend on the
        # order of its rows).
        batch = _by_length(batch, size)
        for index, start in enumerate(starts):
            inputs = micro_batch.piece(_trimmed(batch, start, min(start + piece, size)))
            rows = int(inputs.batch["input_ids"].shape[0])
            self._pieces.rows = rows
            with _quiet_hooks():
                try:
                    outputs = inputs.model(**inputs.batch)
                finally:
                    self._pieces.rows = 0  # evaluation forwards must not be expanded
                loss = inputs.loss_of(outputs)
                if self._ghost:
                    self._ghost_clipped_backward(outputs, loss, rows)
                else:
                    inputs.backward(loss)
                    self._zero_grad_samples(rows, missing_only=True)
            total += loss.detach().float() * rows
            if index < len(starts) - 1:
                optimizer.signal_skip_step(do_skip=True)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
        return total / size

    def _ghost_clipped_backward(self, outputs: Any, loss: torch.Tensor, rows: int) -> None:
        """Ghost clipping: sum the piece's clipped per-example gradients into `.grad` without
        materialising them.

        The first backward pass runs Opacus's norm hooks (each example's gradient norm from the
        layer inputs and output gradients) and keeps the gradients of the model's outputs. The
        second pass, hooks off, backpropagates those output gradients scaled per row by the
        clipping factor. Rows of a transformer batch do not interact and every loss here is a
        sum of per-row terms, so this is the gradient of sum_i factor_i * loss_i: what
        per_example clipping sums, without a per-row loss from every loss term (Opacus's
        DPLossFastGradientClipping wants a per-row criterion instead).
        """
        tensors = [t for t in _output_tensors(outputs, rows) if t.requires_grad]
        captured: list[torch.Tensor | None] = [None] * len(tensors)
        handles = [
            tensor.register_hook(functools.partial(_keep_gradient, captured, index))
            for index, tensor in enumerate(tensors)
        ]
        self._samples.reduced_precision = False
        try:
            loss.backward(retain_graph=True)
        finally:
            for handle in handles:
                handle.remove()
        norms = [
            p._norm_sample.float()
            for p in self._optimizer.params
            if getattr(p, "_norm_sample", None) is not None
        ]
        # Opacus rescales a mean loss by the rows (each norm is one example's own gradient's);
        # the second pass, on the same mean loss, needs that factor too.
        norm = torch.stack(norms).norm(2, dim=0) if norms else torch.zeros(rows)
        clip = self.current_clip
        if self._samples.reduced_precision:
            # The second pass runs in the forward's dtype: bf16 rounds the scaled output
            # gradients and every layer's gradient (measured up to 0.47% over the clip on
            # single examples); clipping 1.6% short keeps each example within the clip.
            clip *= 1 - GHOST_REDUCED_PRECISION_MARGIN
        factor = (clip / (norm + 1e-6)).clamp(max=1.0)
        self._record_norms(norm, factor < 1)
        factor = factor * rows
        for parameter in self._optimizer.params:
            parameter._norm_sample = None
            parameter.grad = None  # the first pass's unclipped sum
        scaled = [
            (tensor, gradient * factor.to(gradient).view(-1, *[1] * (gradient.dim() - 1)))
            for tensor, gradient in zip(tensors, captured, strict=True)
            if gradient is not None
        ]
        self._grad_sample_module.disable_hooks()
        try:
            if scaled:
                torch.autograd.backward(
                    [tensor for tensor, _ in scaled], [gradient for _, gradient in scaled]
                )
        finally:
            self._grad_sample_module.enable_hooks()
        self._zero_missing_grads()

    def _zero_missing_grads(self) -> None:
        """A zero `.grad` for trainable parameters no pass reached (ghost clipping sums
        `.grad` across pieces): their true gradient."""
        for parameter in self._optimizer.params:
            if parameter.grad is None:
                parameter.grad = torch.zeros_like(parameter)

    @property
    def _ghost(self) -> bool:
        return self.plan.clipping == "ghost"

    def hooks(self) -> TrainingHooks:
        from tuneforge.training.hooks import TrainingHooks

        return TrainingHooks(
            before_optimizer_step=[self._reseed_noise],
            after_optimizer_step=[self._adapt_clip] if self.plan.clip_quantile else [],
            on_evaluate=[self._record_epsilon],
        )

    @property
    def current_clip(self) -> float:
        """The clip of the next step: max_grad_norm, or where adaptive clipping has moved it."""
        if self._optimizer is None:
            return self.plan.max_grad_norm
        return float(self._optimizer.param_groups[0][CLIP_KEY])

    def report(self, steps: int) -> dict[str, Any]:
        """The privacy block of metrics.json (the plan's, with the final adaptive clip)."""
        adaptive = self.plan.clip_quantile is not None
        return self.plan.report(steps, final_clip=self.current_clip if adaptive else None)

    def _apply_clip(self) -> None:
        """Clip this step's examples, and scale its noise, to the current clip."""
        clip = self.current_clip
        self._optimizer.max_grad_norm = clip  # Opacus scales the noise std by it
        if not self._ghost:
            self._optimizer.clips = self.plan.clips_at(clip)
        self._unclipped = None

    def _record_norms(self, norms: torch.Tensor, clipped: torch.Tensor) -> None:
        self.gradient_norms.add(norms, clipped)
        if self.plan.clip_quantile is not None:
            kept = (~clipped).sum()
            self._unclipped = kept if self._unclipped is None else self._unclipped + kept

    def _adapt_clip(self, context: StepContext) -> None:
        """Andrew et al.'s geometric update after each step, from a noisy count of the step's
        unclipped examples: clip x exp(-rate x (count / expected batch - quantile)). The noise
        comes from the step's seeded generator after the gradient noise: a resumed run draws
        the same."""
        plan = self.plan
        count = float(self._unclipped) if self._unclipped is not None else 0.0
        noise = torch.normal(
            0.0, float(plan.count_noise), (1,), generator=self._noise, device=self._noise.device
        )
        share = (count + float(noise)) / plan.expected_batch_size
        clip = self.current_clip * math.exp(-plan.clip_learning_rate * (share - plan.clip_quantile))
        self._optimizer.param_groups[0][CLIP_KEY] = clip
        self._unclipped = None

    def announce_plan(self) -> None:
        """The noise, sampling and epsilon the run will spend, before its first step."""
        if not self.announce:
            return
        plan = self.plan
        adaptive = (
            f" (adaptive: toward the {plan.clip_quantile:g} quantile of the gradient norms; "
            f"gradient noise {plan.gradient_noise_multiplier:.3f}, count noise "
            f"{plan.count_noise:.3g})"
            if plan.clip_quantile is not None
            else ""
        )
        console.print(
            f"[bold]DP-SGD[/]: noise multiplier {plan.noise_multiplier:.3f}, clip "
            f"{plan.max_grad_norm:g}{_group_clips_text(plan)}{adaptive}, expected batch "
            f"{plan.expected_batch_size} "
            f"(q = {plan.sample_rate:.4f}), {plan.allowed_steps} steps -> epsilon "
            f"{plan.epsilon(plan.allowed_steps):.2f} at delta {plan.delta:.2g} ({plan.accountant})"
        )
        if plan.allowed_steps < plan.planned_steps:
            console.print(
                f"[yellow]The privacy budget (epsilon {plan.target_epsilon:g}) allows "
                f"{plan.allowed_steps} of the {plan.planned_steps} planned steps: training "
                "stops there.[/]"
            )

    def _record_epsilon(self, context: StepContext) -> None:
        """The epsilon spent so far, in the evaluation's history row and on the console, with
        what clipping did since the last evaluation (console only: the history must read the
        same after a resume, and the norms are not kept in checkpoints)."""
        steps = context.state.global_step
        epsilon = self.plan.epsilon(steps)
        context.state.history[-1]["epsilon"] = round(epsilon, 4)
        if self.announce:
            norms = self.gradient_norms.since_last()
            target = self.plan.target_epsilon
            budget = f" of {target:g}" if target is not None else ""
            adaptive = self.plan.clip_quantile is not None
            clipping = f"; {describe(norms, self.current_clip, adaptive)}" if norms else ""
            if adaptive:
                clipping += (
                    f"; adaptive clip now {self.current_clip:.3g} (toward the "
                    f"{self.plan.clip_quantile:g} quantile of the norms)"
                )
            console.print(
                f"privacy: epsilon {epsilon:.2f}{budget} spent after {steps} steps{clipping}"
            )

    def _reseed_noise(self, context: StepContext) -> None:
        self._noise.manual_seed(self.seed * 1_000_003 + context.state.global_step + 7)
        self.gradient_norms.mark_step(context.state.global_step + 1)

    def _zero_grad_samples(self, rows: int, missing_only: bool = False) -> None:
        """Per-example gradients of zero for trainable parameters the forward did not reach
        (a pooler a token-level head skips) or for an empty batch: their true value."""
        for group in self._optimizer.param_groups:
            for parameter in group["params"]:
                if missing_only and getattr(parameter, "grad_sample", None) is not None:
                    continue
                parameter.grad_sample = torch.zeros(
                    (rows, *parameter.shape), dtype=parameter.dtype, device=parameter.device
                )

    def detach(self) -> None:
        """Remove Opacus's hooks and per-example buffers from the trained model."""
        for handle in self._pre_hooks:
            handle.remove()
        self._pre_hooks = []
        if self._grad_sample_module is not None:
            self._grad_sample_module.remove_hooks()
            for parameter in self._grad_sample_module._module.parameters():
                for name in (
                    "grad_sample",
                    "summed_grad",
                    "_current_grad_sample",
                    "_norm_sample",
                    "_forward_counter",
                ):
                    if hasattr(parameter, name):
                        delattr(parameter, name)
            self._grad_sample_module = None


def _group_clips_text(plan: PrivacyPlan) -> str:
    if plan.group_clips is None:
        return ""
    head, rest = plan.group_clips
    return f" (task head {head:.3g}, the rest {rest:.3g})"


def _task_head_parameters(model: torch.nn.Module) -> set[int]:
    """The ids of the trainable task-head parameters (group-wise clipping's first group).

    Raises:
        ConfigError: the model has no trainable head, or nothing trainable besides it.
    """
    from tuneforge.modeling import is_task_head_parameter

    trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    head = {id(p) for name, p in trainable if is_task_head_parameter(name)}
    if not head or len(head) == len(trainable):
        raise ConfigError(
            "privacy.head_clip_fraction: group-wise clipping needs a trainable task head and "
            f"trainable weights besides it; this model has {len(head)} head and "
            f"{len(trainable) - len(head)} other trainable tensors. Leave it out."
        )
    return head


@functools.cache
def _clipping_optimizer() -> type:
    """Opacus's DPOptimizer, clipping each example's gradient as one (`clips` of one norm,
    Opacus's own rule) or in two groups, the task head and the rest, each to its own norm
    (`clips` of two, whose squares sum to max_grad_norm's, so the noise, scaled to
    max_grad_norm, covers the whole), and handing each example's norm and whether it was cut to
    `record`. Opacus clips all parameters as one or each tensor alone (per-layer clipping, where
    every LoRA matrix would need its own share, and an A matrix gets no gradient until its B
    leaves zero), and keeps no norms; `clip_and_accumulate` is this subclass's one change."""
    from opacus.optimizers import DPOptimizer
    from opacus.optimizers.optimizer import _check_processed_flag, _mark_as_processed

    class ClippingDPOptimizer(DPOptimizer):
        def __init__(
            self,
            optimizer: Any,
            *,
            clips: tuple[float, ...],
            head: set[int],
            record: Callable[[torch.Tensor, torch.Tensor], None],
            **kwargs: Any,
        ) -> None:
            super().__init__(optimizer, **kwargs)
            self.clips = clips
            self.head = head
            self.record = record

        def clip_and_accumulate(self) -> None:
            params = self.params
            samples = self.grad_samples  # each parameter's, concatenated once
            groups = [0 if id(p) in self.head or len(self.clips) == 1 else 1 for p in params]
            rows = len(samples[0])
            squares = [torch.zeros(rows, device=samples[0].device) for _ in self.clips]
            for group, sample in zip(groups, samples, strict=True):
                # A norm per row, as Opacus takes it: squaring the samples first would hold a
                # second copy of them (rows x parameters) in memory.
                norms = torch.linalg.vector_norm(sample.flatten(1), dim=1)
                squares[group] += norms.float().pow(2)
            factors = [
                (clip / (total.sqrt() + 1e-6)).clamp(max=1.0)
                for clip, total in zip(self.clips, squares, strict=True)
            ]
            self.record(
                torch.stack(squares).sum(dim=0).sqrt(),
                torch.stack(factors).lt(1).any(dim=0),
            )
            for p, group, sample in zip(params, groups, samples, strict=True):
                _check_processed_flag(p.grad_sample)
                sample = sample.to(p.dtype)
                grad = torch.einsum("i,i...", factors[group].to(sample), sample)
                p.summed_grad = grad if p.summed_grad is None else p.summed_grad + grad
                _mark_as_processed(p.grad_sample)

    return ClippingDPOptimizer


class _SamplesInFp32:
    """Per-example gradients and their norms in fp32 whatever the autocast dtype.

    Under bf16 autocast a layer's saved input and output gradient are bf16, so Opacus computes
    the per-example gradients (and, for ghost clipping, their norms) in bf16: a norm rounded
    down lets a clipped gradient exceed the clip (measured: 0.22% over it for a LoRA example),
    and the sensitivity the accountant assumes no longer holds. Opacus has no dtype setting;
    its hooks read both tensors through `rearrange_grad_samples`, so they are upcast there,
    one layer at a time (the activations kept for the backward pass stay bf16). A product of
    two bf16 numbers is exact in fp32, so the norm is the norm of what gets summed.

    `reduced_precision` tells ghost clipping that its second backward pass, which autograd
    runs in the dtype of the recorded forward, rounds what it sums."""

    def __init__(self, grad_sample_module: Any) -> None:
        self.reduced_precision = False
        self._rearrange = grad_sample_module.rearrange_grad_samples
        grad_sample_module.rearrange_grad_samples = self

    def __call__(self, *args: Any, **kwargs: Any) -> tuple[list[torch.Tensor], torch.Tensor]:
        activations, backprops = self._rearrange(*args, **kwargs)
        if backprops.dtype != torch.float32:
            self.reduced_precision = True
        activations = [a.float() if a.is_floating_point() else a for a in activations]
        return activations, backprops.float()


def _output_tensors(outputs: Any, rows: int) -> list[torch.Tensor]:
    """The distinct tensors of a model's output with one row per example (logits, hidden
    states, ...), each once: a tensor listed twice would get its gradient twice."""
    found: dict[int, torch.Tensor] = {}
    pending = [outputs]
    while pending:
        value = pending.pop()
        if torch.is_tensor(value):
            if value.dim() >= 1 and value.shape[0] == rows:
                found.setdefault(id(value), value)
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, (tuple, list)):
            pending.extend(value)
    return list(found.values())


def _keep_gradient(store: list[torch.Tensor | None], index: int, gradient: torch.Tensor) -> None:
    store[index] = gradient


class _PieceSize:
    """Rows of the piece being forwarded (read by the embedding-input hooks)."""

    rows: int = 0


def _expand_broadcast_embedding_inputs(model: torch.nn.Module, pieces: _PieceSize) -> list[Any]:
    """Give every trainable embedding one row of indices per example.

    BERT-style models look positions up from a (1, L) buffer and broadcast the result over the
    batch; Opacus then computes the position embedding's per-example gradients with batch size
    1, and DP-SGD fails (or, worse, clips one summed gradient). Expanding such inputs to
    (batch, L) changes no output and makes those gradients per example.
    """

    def expand(module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
        if not args or not torch.is_tensor(args[0]):
            return None
        indices = args[0]
        if indices.dim() >= 2 and indices.shape[0] == 1 and pieces.rows > 1:
            # contiguous: Opacus's ghost-clipping norm of an embedding views the indices flat
            expanded = indices.expand(pieces.rows, *indices.shape[1:]).contiguous()
            return (expanded, *args[1:])
        return None

    return [
        module.register_forward_pre_hook(expand)
        for module in model.modules()
        if isinstance(module, torch.nn.Embedding) and module.weight.requires_grad
    ]


def _by_length(batch: dict[str, torch.Tensor], rows: int) -> dict[str, torch.Tensor]:
    """The batch's rows ordered by their number of tokens (attention mask), shortest first."""
    mask = batch.get("attention_mask")
    if mask is None or mask.dim() != 2 or rows < 2:
        return batch
    order = torch.argsort(mask.sum(dim=1), stable=True)
    return {
        key: value[order] if value.shape[:1] == (rows,) else value for key, value in batch.items()
    }


def _trimmed(batch: dict[str, torch.Tensor], start: int, end: int) -> dict[str, torch.Tensor]:
    """Rows start:end of a padded batch, cut to the longest of those rows."""
    rows = {key: value[start:end] for key, value in batch.items()}
    mask = rows.get("attention_mask")
    if mask is None or mask.dim() != 2:
        return rows
    width = int(mask.sum(dim=1).max())
    # contiguous: models view() their labels (BERT's token classification head does)
    return {
        key: value[:, :width].contiguous() if _is_per_token(key, value) else value
        for key, value in rows.items()
    }


def _is_per_token(key: str, value: torch.Tensor) -> bool:
    """Model inputs and token tags have one column per token; multi-hot labels do not."""
    return key in MODEL_INPUTS or (
        key == "labels" and value.dim() == 2 and not value.is_floating_point()
    )
