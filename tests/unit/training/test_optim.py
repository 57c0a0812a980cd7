"""The default optimizer: weight decay only where it belongs, and the task head at its own
learning rate when training.head_learning_rate asks for one (peft's wrapped head included)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tuneforge.config import TrainingConfig
from tuneforge.modeling import is_task_head_parameter
from tuneforge.training.optim import adamw, warmup_then_decay


def _lora_classifier(minilm_path: Path) -> torch.nn.Module:
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForSequenceClassification

    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_path, num_labels=2, num_hidden_layers=1
    )
    return get_peft_model(model, LoraConfig(task_type="SEQ_CLS", r=4))


def _rates(optimizer: torch.optim.Optimizer, model: torch.nn.Module) -> dict[str, float]:
    by_id = {id(p): group["lr"] for group in optimizer.param_groups for p in group["params"]}
    return {name: by_id[id(p)] for name, p in model.named_parameters() if p.requires_grad}


def test_the_head_trains_at_its_own_rate_and_the_schedule_scales_both(minilm_path: Path) -> None:
    model = _lora_classifier(minilm_path)
    config = TrainingConfig(learning_rate=1e-3, head_learning_rate=1e-2, warmup_ratio=0.0)
    optimizer = adamw(model, config)

    rates = _rates(optimizer, model)
    head = {name for name in rates if is_task_head_parameter(name)}
    assert head and all("classifier" in name for name in head)
    assert all(rates[name] == 1e-2 for name in head)
    assert all(rate == 1e-3 for name, rate in rates.items() if name not in head)
    decay = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    for name, parameter in model.named_parameters():
        if parameter.requires_grad and (parameter.ndim < 2 or "norm" in name.lower()):
            assert decay[id(parameter)] == 0.0, name

    scheduler = warmup_then_decay(optimizer, config, total_steps=10)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    halfway = _rates(optimizer, model)
    assert all(halfway[name] == pytest.approx(5e-3) for name in head)  # linear decay, halfway
    assert all(rate == pytest.approx(5e-4) for name, rate in halfway.items() if name not in head)


def test_without_a_head_rate_every_parameter_shares_the_rate(minilm_path: Path) -> None:
    model = _lora_classifier(minilm_path)
    rates = _rates(adamw(model, TrainingConfig(learning_rate=2e-4)), model)
    assert set(rates.values()) == {2e-4}
