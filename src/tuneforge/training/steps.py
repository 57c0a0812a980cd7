"""Training steps: what one micro-batch does between "here is a batch" and "gradients are summed".

The loop owns accumulation, clipping, the optimizer and scheduler; a step owns forward and
backward. The default is one forward and one backward pass. Adversarial training (several
perturbed passes per batch) and DP-SGD (per-example gradients) replace it, and the loop stays
as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

import torch


@dataclass
class MicroBatch:
    """What a training step is given for one micro-batch."""

    model: torch.nn.Module
    """The prepared (possibly DDP-wrapped) model, in train mode."""
    batch: dict[str, torch.Tensor]
    """Model inputs and labels, on the accelerator's device."""
    loss_of: Callable[[Any], torch.Tensor]
    """The loss of the model's outputs on this batch: the model's own loss, then every
    `TrainingHooks.loss_terms` transform in order (class weights, distillation, ...)."""
    backward: Callable[[torch.Tensor], None]
    """Backpropagates a loss, scaled for gradient accumulation (1 / micro-batches in the group)."""
    loss_of_rows: Callable[[dict[str, torch.Tensor]], Callable[[Any], torch.Tensor]] | None = None
    """`loss_of` for other rows (see `piece`); None: `loss_of` reads nothing of the batch."""

    def piece(self, rows: dict[str, torch.Tensor]) -> MicroBatch:
        """This micro-batch narrowed to some of its rows, as DP-SGD runs a logical batch in
        physical pieces: the loss terms (class weights, NER's per-sentence mean) then read the
        labels of those rows, not of the whole batch."""
        loss_of = self.loss_of if self.loss_of_rows is None else self.loss_of_rows(rows)
        return replace(self, batch=rows, loss_of=loss_of)


class TrainingStep(Protocol):
    def __call__(self, micro_batch: MicroBatch) -> torch.Tensor:
        """Runs forward and backward on the micro-batch; returns the detached loss to log."""
        ...


def forward_backward(micro_batch: MicroBatch) -> torch.Tensor:
    """The default step: one forward pass, the composed loss, one backward pass."""
    outputs = micro_batch.model(**micro_batch.batch)
    loss = micro_batch.loss_of(outputs)
    micro_batch.backward(loss)
    return loss.detach()
