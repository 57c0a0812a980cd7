"""Hook points of the training loop, where privacy, adversarial training, distillation and
federated rounds plug in without rewriting the loop.

Hooks are plain callables collected in a dataclass (composition): each feature adds its own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from tuneforge.train.loop import StepContext

# (model, batch, outputs) -> loss. Replaces the model's own loss (e.g. distillation adds a KL term).
LossFn = Callable[[torch.nn.Module, dict[str, torch.Tensor], Any], torch.Tensor]
# Called with the live StepContext (model, optimizer, loop state, last loss; see loop.py).
StepHook = Callable[["StepContext"], None]


@dataclass
class TrainingHooks:
    compute_loss: LossFn | None = None
    """Computes the loss of a batch; None uses the loss the model returns for its labels."""
    after_backward: list[StepHook] = field(default_factory=list)
    """After each backward pass, before gradient clipping (e.g. per-sample gradient work)."""
    before_optimizer_step: list[StepHook] = field(default_factory=list)
    """After clipping, right before optimizer.step() (e.g. adding noise to gradients)."""
    after_optimizer_step: list[StepHook] = field(default_factory=list)
    """After optimizer.step() and the scheduler step (e.g. AdaLoRA's rank re-allocation)."""
    on_evaluate: list[StepHook] = field(default_factory=list)
    """After each validation pass, with the metrics in state.history[-1]."""
    on_epoch_end: list[StepHook] = field(default_factory=list)
    """At the end of every epoch (e.g. a federated round boundary)."""


def run_hooks(hooks: list[StepHook], context: StepContext) -> None:
    for hook in hooks:
        hook(context)
