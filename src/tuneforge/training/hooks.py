"""Hook points of the training loop, where privacy, adversarial training, distillation and
federated rounds plug in without rewriting the loop.

Hooks are plain callables collected in a dataclass (composition): each feature appends its own,
and several features can use the same slot. When each slot fires:

- ``loss_terms``: per micro-batch, inside the training step, in list order. Each gets the loss
  so far and returns the new one: class weights replace the model's loss, distillation mixes in
  the teacher's soft labels, an adversarial term adds to it; they compose.
- ``after_backward``: once per optimizer step, after the last micro-batch's backward of the
  accumulation group, before gradient clipping.
- ``before_optimizer_step``: once per optimizer step, after clipping, right before
  ``optimizer.step()`` (e.g. adding noise to gradients).
- ``after_optimizer_step``: after ``optimizer.step()`` and the scheduler step, before the
  gradients are zeroed (AdaLoRA's rank allocation reads them).
- ``on_evaluate``: after each validation pass, with its metrics in ``state.history[-1]``.
- ``on_epoch_end``: when an epoch's last optimizer step is done (e.g. a federated round).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from tuneforge.training.loop import StepContext

# (model, batch, outputs, loss so far) -> loss.
LossTerm = Callable[[torch.nn.Module, dict[str, torch.Tensor], Any, torch.Tensor], torch.Tensor]
# Called with the live StepContext (model, optimizer, loop state, last loss; see loop.py).
StepHook = Callable[["StepContext"], None]


@dataclass
class TrainingHooks:
    loss_terms: list[LossTerm] = field(default_factory=list)
    """Per micro-batch, in order: each maps the loss so far to the loss to backpropagate. With
    none, the loss is the one the model returns for its labels."""
    after_backward: list[StepHook] = field(default_factory=list)
    before_optimizer_step: list[StepHook] = field(default_factory=list)
    after_optimizer_step: list[StepHook] = field(default_factory=list)
    on_evaluate: list[StepHook] = field(default_factory=list)
    on_epoch_end: list[StepHook] = field(default_factory=list)

    def extend(self, more: TrainingHooks) -> None:
        """Append `more`'s hooks after these, slot by slot."""
        for slot in fields(self):
            getattr(self, slot.name).extend(getattr(more, slot.name))


def run_hooks(hooks: list[StepHook], context: StepContext) -> None:
    for hook in hooks:
        hook(context)
