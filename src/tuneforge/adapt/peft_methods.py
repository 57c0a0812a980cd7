"""LoRA, AdaLoRA, (IA)³, prefix and prompt tuning: thin wrappers over peft.

peft's task-specific wrappers (SEQ_CLS, TOKEN_CLS) add the task head ("classifier" for BERT) to
``modules_to_save``, so the freshly initialised head is trained and saved with the adapter.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from peft import (
    AdaLoraConfig,
    IA3Config,
    LoraConfig,
    PeftConfig,
    PeftModel,
    PeftType,
    PrefixTuningConfig,
    PromptTuningConfig,
    get_peft_model,
)
from peft import TaskType as PeftTaskType
from transformers import PreTrainedModel

from tuneforge.config import AdaptationConfig
from tuneforge.errors import ConfigError

PEFT_METHODS = ("lora", "adalora", "ia3", "prefix", "prompt")

# Combinations peft cannot train, with the reason and what to use instead. Checked against
# peft 0.21.2 + transformers 5.23 with BERT (tests/unit/adapt/test_peft_methods.py).
_UNSUPPORTED: dict[tuple[str, str], str] = {
    ("prompt", "TOKEN_CLS"): (
        "peft's token-classification wrapper prepends the virtual tokens to the input, so the "
        "model returns num_virtual_tokens extra logits per sequence and they no longer line up "
        "with the token labels. Use method prefix (keeps the sequence length), lora or ia3."
    ),
}


@contextmanager
def quiet_peft_deprecations() -> Iterator[None]:
    """peft 0.21 reads transformers 5's deprecated ``is_gradient_checkpointing`` whenever it wraps
    or loads a model; the FutureWarning is about peft's code, not the user's run."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message=".*is_gradient_checkpointing", category=FutureWarning
        )
        yield


def apply_peft(
    model: PreTrainedModel,
    config: AdaptationConfig,
    peft_task_type: str,
    total_steps: int | None = None,
) -> PeftModel:
    """Wrap ``model`` with the peft method named by ``config.method``.

    Only the adapter and the task head stay trainable; the base weights are frozen.

    Args:
        model: a transformers model with its task head (sequence or token classification).
        config: the adaptation section of the run config.
        peft_task_type: peft's task wrapper of the head (SEQ_CLS or TOKEN_CLS).
        total_steps: number of optimizer steps of the whole run; AdaLoRA needs it for its
            rank-budget schedule, the other methods ignore it.

    Raises:
        ConfigError: the method/task combination is unsupported, or the method's settings do
            not fit the model (target modules not found, unknown architecture).
        ValueError: AdaLoRA without ``total_steps``.
    """
    if config.method not in PEFT_METHODS:
        raise ValueError(f"apply_peft handles {', '.join(PEFT_METHODS)}, not {config.method!r}")
    reason = _UNSUPPORTED.get((config.method, peft_task_type))
    if reason is not None:
        raise ConfigError(
            f"adaptation.method {config.method} is not supported for {peft_task_type} heads "
            f"(token classification: task.type ner): {reason}"
        )
    peft_config = _peft_config(config, PeftTaskType(peft_task_type), total_steps)
    try:
        with quiet_peft_deprecations():
            return get_peft_model(model, peft_config)
    except ValueError as exc:
        # peft raises ValueError for target modules that match nothing and for architectures
        # without a default target list; both are fixed in the user's config.
        model_type = getattr(model.config, "model_type", type(model).__name__)
        raise ConfigError(
            f"adaptation.method {config.method} cannot be applied to this {model_type} model: "
            f"{str(exc).rstrip('.')}. Set adaptation.target_modules to module names of the model."
        ) from exc


def after_optimizer_step_hook(model: object) -> Callable[[int], None] | None:
    """The callable the training loop must run after each optimizer step, if the method has one.

    AdaLoRA (Zhang et al., 2023, "Adaptive Budget Allocation for Parameter-Efficient
    Fine-Tuning") re-allocates the rank budget from the gradients' importance scores. Call the
    returned function as ``hook(global_step)`` after ``optimizer.step()`` and before
    ``optimizer.zero_grad()`` (it reads ``.grad``), where ``global_step`` is the number of
    optimizer steps taken so far (1 after the first); the final allocation happens at
    ``global_step == total_steps``.

    Returns:
        For an AdaLoRA model, a function that checks the gradients are still there and runs
        peft's ``update_and_allocate``; None for every other model.
    """
    if not isinstance(model, PeftModel):
        return None
    if model.peft_config[model.active_adapter].peft_type != PeftType.ADALORA:
        return None
    scored = [
        param for name, param in model.named_parameters() if "lora_" in name and param.requires_grad
    ]

    def update_rank_budget(global_step: int) -> None:
        # peft would fail with a bare TypeError (param * None) on cleared gradients.
        if any(param.grad is None for param in scored):
            raise RuntimeError(
                "AdaLoRA scores ranks by |weight * gradient|: call the hook after "
                "optimizer.step() and before optimizer.zero_grad(), while the gradients exist."
            )
        model.base_model.update_and_allocate(global_step)

    return update_rank_budget


def _peft_config(
    config: AdaptationConfig, task: PeftTaskType, total_steps: int | None
) -> PeftConfig:
    if config.method in ("prefix", "prompt") and config.target_modules is not None:
        raise ConfigError(
            f"adaptation.target_modules has no effect with method {config.method} (it adds "
            "virtual tokens, not per-module weights); remove it."
        )
    target_modules = list(config.target_modules) if config.target_modules else None
    if config.method == "lora":
        return LoraConfig(
            task_type=task,
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules=target_modules,
        )
    if config.method == "adalora":
        return _adalora_config(config, task, target_modules, total_steps)
    if config.method == "ia3":
        # feedforward_modules stays None: peft fills in the architecture's default (BERT:
        # output.dense) whose vectors scale the layer input instead of its output (Liu et al., 2022).
        return IA3Config(task_type=task, target_modules=target_modules)
    if config.method == "prefix":
        # No reparameterisation MLP (prefix_projection=False): Li & Liang (2021) use it only
        # to stabilise training of generation models; it would also double the trained size.
        return PrefixTuningConfig(task_type=task, num_virtual_tokens=config.num_virtual_tokens)
    return PromptTuningConfig(task_type=task, num_virtual_tokens=config.num_virtual_tokens)


def _adalora_config(
    config: AdaptationConfig,
    task: PeftTaskType,
    target_modules: list[str] | None,
    total_steps: int | None,
) -> AdaLoraConfig:
    if total_steps is None or total_steps < 1:
        raise ValueError(
            "AdaLoRA needs total_steps (the number of optimizer steps of the run) to schedule "
            f"its rank budget; got {total_steps!r}."
        )
    if config.adalora_target_rank > config.lora_rank:
        raise ConfigError(
            f"adaptation.adalora_target_rank ({config.adalora_target_rank}) must not exceed "
            f"adaptation.lora_rank ({config.lora_rank}): AdaLoRA prunes the initial rank "
            "down to the target."
        )
    # tinit/tfinal keep peft's defaults (0): the budget shrinks from the first step and the
    # final allocation happens at the last step; the config has no field for them yet.
    return AdaLoraConfig(
        task_type=task,
        init_r=config.lora_rank,
        target_r=config.adalora_target_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=target_modules,
        total_step=total_steps,
    )
