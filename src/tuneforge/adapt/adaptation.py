"""Choose the adaptation method from the config and count what it trains."""

from __future__ import annotations

from torch import nn
from transformers import PreTrainedModel

from tuneforge.adapt.bottleneck import add_bottleneck_adapters
from tuneforge.adapt.peft_methods import PEFT_METHODS, apply_peft
from tuneforge.config import AdaptationConfig


def apply_adaptation(
    model: PreTrainedModel,
    config: AdaptationConfig,
    peft_task_type: str,
    total_steps: int | None = None,
) -> nn.Module:
    """Make ``model`` ready to train with ``config.method``.

    Args:
        model: a transformers model with its task head.
        config: the adaptation section of the run config.
        peft_task_type: the task's peft wrapper (``Task.peft_task_type``: SEQ_CLS, TOKEN_CLS).
        total_steps: optimizer steps of the whole run; required by AdaLoRA.

    Returns:
        full: the same model with every parameter trainable; lora, adalora, ia3, prefix,
        prompt: a ``peft.PeftModel``; bottleneck: the same model with adapters inserted.
    """
    if config.method == "full":
        model.requires_grad_(True)
        if config.freeze_word_embeddings:
            model.get_input_embeddings().weight.requires_grad_(False)
        return model
    if config.method == "bottleneck":
        return add_bottleneck_adapters(model, config.bottleneck_size)
    if config.method in PEFT_METHODS:
        return apply_peft(model, config, peft_task_type, total_steps=total_steps)
    raise ValueError(f"unknown adaptation method {config.method!r}")


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """Count (trainable, total) parameters; shared tensors are counted once.

    For a peft model the total is the base model's plus the adapter's: peft keeps a frozen
    ``original_module`` copy of each ``modules_to_save`` layer (the task head) beside the trained
    one, and only one of the two runs, so the frozen copy is not counted.
    """
    trainable = total = 0
    for name, param in model.named_parameters():  # named_parameters skips shared duplicates
        if ".original_module." in f".{name}.":
            continue
        total += param.numel()
        if param.requires_grad:
            trainable += param.numel()
    return trainable, total
