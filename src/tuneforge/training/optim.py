"""The default optimizer and learning-rate schedule of `fit`.

`fit` takes an optimizer factory; this is the one it uses unless told otherwise (DP-SGD wraps
it, a search may swap it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from tuneforge.config import TrainingConfig
from tuneforge.modeling import is_task_head_parameter

OptimizerFactory = Callable[[torch.nn.Module, TrainingConfig], torch.optim.Optimizer]


def adamw(model: torch.nn.Module, config: TrainingConfig) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters; no weight decay on biases and norm weights; the
    task head at training.head_learning_rate when it is set."""
    head_rate = config.head_learning_rate
    grouped: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        # BERT paper's recipe: decaying biases and normalisation weights towards zero only hurts.
        is_norm_or_bias = parameter.ndim < 2 or "norm" in name.lower()
        in_head = head_rate is not None and is_task_head_parameter(name)
        grouped.setdefault((in_head, is_norm_or_bias), []).append(parameter)
    groups = [
        {
            "params": parameters,
            "weight_decay": 0.0 if is_norm_or_bias else config.weight_decay,
            "lr": head_rate if in_head else config.learning_rate,
        }
        for (in_head, is_norm_or_bias), parameters in sorted(grouped.items())
    ]
    # The fused kernel updates all parameters in one pass (CPU and CUDA since torch 2.4).
    try:
        return torch.optim.AdamW(groups, lr=config.learning_rate, fused=True)
    except (RuntimeError, TypeError):
        return torch.optim.AdamW(groups, lr=config.learning_rate)


def warmup_then_decay(optimizer: Any, config: TrainingConfig, total_steps: int) -> Any:
    """Linear warmup over warmup_ratio of the steps, then the configured decay."""
    from transformers import get_scheduler

    name = {"linear": "linear", "cosine": "cosine", "constant": "constant_with_warmup"}
    return get_scheduler(
        name[config.lr_schedule],
        optimizer,
        num_warmup_steps=int(config.warmup_ratio * total_steps),
        num_training_steps=total_steps,
    )
