"""Adversarial training as training steps: FGM, PGD and FreeLB on the input word embeddings.

Each step perturbs the output of the model's input word-embedding module (found with
`get_input_embeddings()` on the unwrapped model, so peft/LoRA and DDP wrappers work) through a
forward hook, so the model, the task and the loss stay as they are: the perturbation is
task-agnostic (one label per text, a set of labels, or one tag per token alike).

- FGM (Miyato et al., 2017, "Adversarial Training Methods for Semi-Supervised Text
  Classification"): one step of size epsilon along the normalised gradient; the clean and the
  adversarial loss are both backpropagated (2 forward/backward passes).
- PGD (Madry et al., 2018, "Towards Deep Learning Models Resistant to Adversarial Attacks"):
  `steps` ascent steps of `step_size`, each projected back onto the epsilon ball, then the
  clean and the final adversarial loss are backpropagated (steps + 2 passes; the ascent passes
  only need the gradient of the perturbation).
- FreeLB (Zhu et al., 2020, "FreeLB: Enhanced Adversarial Training for Natural Language
  Understanding"): `steps` ascent steps whose parameter gradients are all kept, each loss
  divided by `steps` (steps passes: "free" large-batch adversarial training).

The perturbation starts at zero (Madry and Zhu start at random points): a zero start draws no
random numbers, so a step is a pure function of weights and batch, and resuming stays exact.
Padding positions are never perturbed; norms are per example over all (token, hidden) values.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from tuneforge.config import AdversarialConfig
from tuneforge.training.steps import MicroBatch, TrainingStep, forward_backward

_TINY = 1e-12  # keeps a zero gradient (a fully padded row) from dividing by zero


@dataclass(frozen=True)
class EmbeddingAttack:
    """How large a perturbation of the word embeddings may be and how it is searched."""

    epsilon: float
    """Radius of the norm ball the perturbation stays in."""
    steps: int = 1
    """Ascent steps (PGD, FreeLB); FGM takes one."""
    step_size: float | None = None
    """Size of one ascent step; None: epsilon / steps."""
    norm: str = "l2"
    """l2 (per example) or linf (per value)."""

    @property
    def alpha(self) -> float:
        return self.step_size if self.step_size is not None else self.epsilon / self.steps


def unwrapped(model: torch.nn.Module) -> torch.nn.Module:
    """The model under a DDP wrapper: ascent passes run there, outside DDP's gradient hooks."""
    while isinstance(model, torch.nn.parallel.DistributedDataParallel | torch.nn.DataParallel):
        model = model.module
    return model


def input_embedding_module(model: torch.nn.Module) -> torch.nn.Module:
    """The input word-embedding module under DDP; peft models answer `get_input_embeddings`
    with their base model's."""
    return unwrapped(model).get_input_embeddings()


class _Perturbation:
    """A forward hook adding `delta` (batch x tokens x hidden) to the embedding output."""

    def __init__(self) -> None:
        self.delta: torch.Tensor | None = None

    def __call__(self, module: Any, inputs: Any, output: torch.Tensor) -> torch.Tensor:
        if self.delta is None:
            return output
        return output + self.delta.to(output.dtype)


@contextmanager
def perturbed_embeddings(model: torch.nn.Module) -> Iterator[_Perturbation]:
    """Adds `perturbation.delta` to every forward's word embeddings while the block runs."""
    perturbation = _Perturbation()
    handle = input_embedding_module(model).register_forward_hook(perturbation)
    try:
        yield perturbation
    finally:
        handle.remove()


def _mask(batch: dict[str, torch.Tensor], hidden: int, like: torch.Tensor) -> torch.Tensor:
    """1 on real tokens, 0 on padding, shaped to broadcast over the hidden size."""
    mask = batch.get("attention_mask")
    if mask is None:
        return torch.ones_like(like)
    return mask.to(like.dtype).unsqueeze(-1).expand(-1, -1, hidden)


def _per_example_norm(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.flatten(1).norm(dim=1).clamp_min(_TINY).view(-1, *([1] * (tensor.dim() - 1)))


def ascent_direction(grad: torch.Tensor, mask: torch.Tensor, norm: str) -> torch.Tensor:
    """The steepest ascent direction of unit norm: g / ||g||_2 per example (l2) or sign(g)
    (linf), zero on padding."""
    grad = grad * mask
    if norm == "linf":
        return grad.sign()
    return grad / _per_example_norm(grad)


def project(delta: torch.Tensor, epsilon: float, norm: str) -> torch.Tensor:
    """The nearest point of the epsilon ball: rescaled per example (l2) or clamped (linf)."""
    if norm == "linf":
        return delta.clamp(-epsilon, epsilon)
    scale = (epsilon / _per_example_norm(delta)).clamp(max=1.0)
    return delta * scale


def fgm_perturbation(
    grad: torch.Tensor, mask: torch.Tensor, epsilon: float, norm: str
) -> torch.Tensor:
    """Miyato et al. (2017), eq. 3: r_adv = epsilon * g / ||g||_2 (sign(g) for linf)."""
    return epsilon * ascent_direction(grad, mask, norm)


def pgd_update(
    delta: torch.Tensor, grad: torch.Tensor, mask: torch.Tensor, attack: EmbeddingAttack
) -> torch.Tensor:
    """One projected ascent step of Madry et al. (2018): Proj_eps(delta + alpha * dir(g))."""
    return project(
        delta + attack.alpha * ascent_direction(grad, mask, attack.norm),
        attack.epsilon,
        attack.norm,
    )


def _zero_delta(micro_batch: MicroBatch, embedding: torch.nn.Module) -> torch.Tensor:
    input_ids = micro_batch.batch["input_ids"]
    hidden = embedding.weight.shape[-1]
    return torch.zeros(
        (*input_ids.shape, hidden), device=input_ids.device, dtype=torch.float32
    ).requires_grad_(True)


@dataclass(frozen=True)
class FGMStep:
    """Fast gradient method: clean pass, one normalised step, adversarial pass."""

    attack: EmbeddingAttack

    def __call__(self, micro_batch: MicroBatch) -> torch.Tensor:
        embedding = input_embedding_module(micro_batch.model)
        with perturbed_embeddings(micro_batch.model) as perturbation:
            delta = _zero_delta(micro_batch, embedding)
            perturbation.delta = delta
            loss = micro_batch.loss_of(micro_batch.model(**micro_batch.batch))
            micro_batch.backward(loss)
            mask = _mask(micro_batch.batch, delta.shape[-1], delta)
            grad = delta.grad if delta.grad is not None else torch.zeros_like(delta)
            perturbation.delta = fgm_perturbation(
                grad, mask, self.attack.epsilon, self.attack.norm
            ).detach()
            adversarial = micro_batch.loss_of(micro_batch.model(**micro_batch.batch))
            micro_batch.backward(adversarial)
        return loss.detach()


@dataclass(frozen=True)
class PGDStep:
    """Projected gradient descent: `steps` projected ascent steps, then clean + adversarial."""

    attack: EmbeddingAttack

    def __call__(self, micro_batch: MicroBatch) -> torch.Tensor:
        embedding = input_embedding_module(micro_batch.model)
        loss = forward_backward(micro_batch)
        inner = unwrapped(micro_batch.model)
        with perturbed_embeddings(micro_batch.model) as perturbation:
            delta = _zero_delta(micro_batch, embedding).detach()
            mask = _mask(micro_batch.batch, delta.shape[-1], delta)
            for _ in range(self.attack.steps):
                current = delta.clone().requires_grad_(True)
                perturbation.delta = current
                ascent_loss = micro_batch.loss_of(inner(**micro_batch.batch))
                (grad,) = torch.autograd.grad(ascent_loss, current)
                delta = pgd_update(delta, grad.detach(), mask, self.attack)
            perturbation.delta = delta
            adversarial = micro_batch.loss_of(micro_batch.model(**micro_batch.batch))
            micro_batch.backward(adversarial)
        return loss


@dataclass(frozen=True)
class FreeLBStep:
    """FreeLB: every ascent step's parameter gradient is kept (averaged over the steps)."""

    attack: EmbeddingAttack

    def __call__(self, micro_batch: MicroBatch) -> torch.Tensor:
        embedding = input_embedding_module(micro_batch.model)
        steps = self.attack.steps
        total = None
        with perturbed_embeddings(micro_batch.model) as perturbation:
            delta = _zero_delta(micro_batch, embedding).detach()
            mask = _mask(micro_batch.batch, delta.shape[-1], delta)
            for _ in range(steps):
                current = delta.clone().requires_grad_(True)
                perturbation.delta = current
                loss = micro_batch.loss_of(micro_batch.model(**micro_batch.batch)) / steps
                micro_batch.backward(loss)
                total = loss.detach() if total is None else total + loss.detach()
                grad = current.grad if current.grad is not None else torch.zeros_like(current)
                delta = pgd_update(delta, grad.detach(), mask, self.attack)
        return total


STEPS = {"fgm": FGMStep, "pgd": PGDStep, "freelb": FreeLBStep}


def adversarial_step(config: AdversarialConfig) -> TrainingStep | None:
    """The training step `robustness.adversarial` names; None (the default step) for none."""
    if config.method == "none":
        return None
    steps = 1 if config.method == "fgm" else config.steps
    attack = EmbeddingAttack(config.epsilon, steps, config.step_size, config.norm)
    return STEPS[config.method](attack)
