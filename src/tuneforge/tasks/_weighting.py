"""Loss weights against class imbalance, as loss terms for the training loop.

A loss term maps the model's loss to the one to backpropagate (training/hooks.py): here it replaces
the model's unweighted loss by the weighted one of the same logits. Written here rather than
taken from transformers because its heads expose no class-weight option; the losses themselves
are torch's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

# "auto" weights the loss once the largest class has this many times the examples of the
# smallest (multilabel: a label's negatives this many times its positives). Measured on the
# 600-row 65/25/10 review set (benchmarks/class_weighting.py, ratio 6.5): unweighted, the starter
# config predicted the majority class for every test row; balanced weights did not.
AUTO_IMBALANCE_RATIO = 3.0
# A label with 1 positive in 3,000 texts would get pos_weight 3,000: its gradients would drown
# the other labels'. Capped like the inverse-frequency weights of Cui et al. 2019 are smoothed.
MAX_POS_WEIGHT = 10.0

LossTerm = Callable[[torch.nn.Module, dict[str, torch.Tensor], Any, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class ClassWeighting:
    """What class weighting decided for a run: reported in metrics.json, applied as a loss term."""

    mode: str
    """The configured training.class_weighting."""
    imbalance_ratio: float
    """Largest over smallest class count (multilabel: the largest negatives/positives)."""
    weights: dict[str, float]
    """Per class (multilabel: per label, the pos_weight); empty when not applied."""

    @property
    def applied(self) -> bool:
        return bool(self.weights)

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "applied": self.applied,
            "imbalance_ratio": round(self.imbalance_ratio, 4),
            "auto_threshold": AUTO_IMBALANCE_RATIO,
            "weights": {name: round(value, 4) for name, value in self.weights.items()},
        }


def applies(mode: str, ratio: float) -> bool:
    return mode == "balanced" or (mode == "auto" and ratio >= AUTO_IMBALANCE_RATIO)


def single_label_weighting(labels: Sequence[int], names: list[str], mode: str) -> ClassWeighting:
    """Balanced weights n / (k * n_c) over the classes present in training (sklearn's
    "balanced"); a class absent from training keeps weight 1 (it has no examples to weigh)."""
    counts = [0] * len(names)
    for label in labels:
        counts[label] += 1
    present = [count for count in counts if count]
    ratio = max(present) / min(present) if present else 1.0
    if not applies(mode, ratio):
        return ClassWeighting(mode, ratio, {})
    total, k = sum(present), len(present)
    weights = {
        name: (total / (k * count) if count else 1.0)
        for name, count in zip(names, counts, strict=True)
    }
    return ClassWeighting(mode, ratio, weights)


def multi_label_weighting(
    labels: Sequence[Sequence[int]], names: list[str], mode: str
) -> ClassWeighting:
    """BCE pos_weight = negatives / positives per label, capped at MAX_POS_WEIGHT; a label with
    no positive in training keeps 1."""
    total = len(labels)
    positives = [sum(row[i] for row in labels) for i in range(len(names))]
    ratios = [(total - p) / p for p in positives if p]
    ratio = max(ratios) if ratios else 1.0
    if not applies(mode, ratio):
        return ClassWeighting(mode, ratio, {})
    weights = {
        name: (min((total - p) / p, MAX_POS_WEIGHT) if p else 1.0)
        for name, p in zip(names, positives, strict=True)
    }
    # A label more often on than off would get pos_weight < 1: leave those at 1.
    weights = {name: max(value, 1.0) for name, value in weights.items()}
    return ClassWeighting(mode, ratio, weights)


def weighted_cross_entropy(weights: list[float]) -> LossTerm:
    table = torch.tensor(weights, dtype=torch.float32)

    def term(model, batch, outputs, loss):
        logits = outputs.logits.float()
        labels = batch["labels"]
        per_example = torch.nn.functional.cross_entropy(logits, labels, reduction="none")
        # Averaged over examples, not over the weights as torch's weight= does: each example's
        # loss is then its own (DP-SGD clips per example), and balanced weights sum to n over the
        # data, so the scale is the same in expectation.
        return (table.to(logits.device)[labels] * per_example).mean()

    return term


def weighted_binary_cross_entropy(pos_weight: list[float]) -> LossTerm:
    table = torch.tensor(pos_weight, dtype=torch.float32)

    def term(model, batch, outputs, loss):
        logits = outputs.logits.float()
        return torch.nn.functional.binary_cross_entropy_with_logits(
            logits, batch["labels"].to(logits.dtype), pos_weight=table.to(logits.device)
        )

    return term
