"""The attention kernel used while training: a speed choice that never reaches the saved model.

On a CPU, torch's fused scaled-dot-product attention has no kernel for attention dropout, so a
model that trains with dropout on its attention probabilities (BERT: 0.1) falls back to a slow
path. transformers' "eager" attention computes the same function (same softmax, same dropout
rate) with plain matmuls and is faster there: measured on all-MiniLM-L6-v2, a 16 x 128 bf16
training step took 0.50 s with eager vs 0.585 s with sdpa (median of 10 steps, 2 cores, AMX).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch

# Config fields that hold the dropout rate of attention probabilities, by model family.
_ATTENTION_DROPOUT_FIELDS = ("attention_probs_dropout_prob", "attention_dropout")


def attention_dropout(model: torch.nn.Module) -> float:
    """The model's attention-probability dropout rate (0 when the config names none)."""
    config = getattr(model, "config", None)
    for name in _ATTENTION_DROPOUT_FIELDS:
        value = getattr(config, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    return 0.0


def resolve_attention(choice: str, model: torch.nn.Module, device: torch.device) -> str | None:
    """The kernel to train with: ``choice`` itself, or for "auto" eager on a CPU when attention
    dropout is on; None keeps the model's own."""
    if choice != "auto":
        return choice
    if device.type == "cpu" and attention_dropout(model) > 0:
        return "eager"
    return None


@contextlib.contextmanager
def training_attention(model: Any, choice: str, device: torch.device) -> Iterator[str | None]:
    """Switch ``model`` to the training attention kernel inside the block and back after it.

    Yields the kernel in use, or None when the model keeps its own (no setter, or the
    architecture has no such kernel).
    """
    wanted = resolve_attention(choice, model, device)
    setter = getattr(model, "set_attn_implementation", None)
    current = getattr(getattr(model, "config", None), "_attn_implementation", None)
    if wanted is None or setter is None or wanted == current:
        yield None if wanted is None or setter is None else wanted
        return
    try:
        setter(wanted)
    except (ValueError, ImportError):  # this architecture has no such kernel: keep its own
        yield None
        return
    try:
        yield wanted
    finally:
        if current is not None:
            setter(current)
