"""apply_adaptation dispatch and count_parameters on the real 1-layer MiniLM."""

from __future__ import annotations

import pytest
from peft import PeftModel

from tuneforge.adapt import apply_adaptation, count_parameters
from tuneforge.config import AdaptationConfig


def _base_total(model) -> int:
    return sum(param.numel() for param in model.parameters())


def test_adaptation_full_trains_everything(make_base):
    base = make_base("classification")
    base.bert.embeddings.requires_grad_(False)

    model = apply_adaptation(base, AdaptationConfig(method="full"), "SEQ_CLS")

    assert model is base
    assert count_parameters(model) == (_base_total(base), _base_total(base))


def test_adaptation_full_can_freeze_word_embeddings(make_base):
    base = make_base("classification")
    config = AdaptationConfig(method="full", freeze_word_embeddings=True)

    model = apply_adaptation(base, config, "SEQ_CLS")

    vocabulary = model.bert.embeddings.word_embeddings.weight
    assert not vocabulary.requires_grad
    assert model.bert.embeddings.position_embeddings.weight.requires_grad
    assert count_parameters(model) == (_base_total(base) - vocabulary.numel(), _base_total(base))


@pytest.mark.parametrize(
    ("method", "marker"),
    [
        ("lora", "lora_"),
        ("ia3", "ia3_l"),
        ("prefix", "prompt_encoder"),
        ("prompt", "prompt_encoder"),
    ],
)
def test_adaptation_count_parameters_adds_adapter_once(make_base, method, marker):
    base = make_base("classification")
    base_total, head = (
        _base_total(base),
        base.classifier.weight.numel() + base.classifier.bias.numel(),
    )

    model = apply_adaptation(base, AdaptationConfig(method=method), "SEQ_CLS")

    assert isinstance(model, PeftModel)
    added = sum(param.numel() for name, param in model.named_parameters() if marker in name)
    assert count_parameters(model) == (added + head, base_total + added)


def test_adaptation_count_parameters_bottleneck(make_base):
    base = make_base("ner")
    base_total = _base_total(base)

    model = apply_adaptation(
        base, AdaptationConfig(method="bottleneck", bottleneck_size=8), "TOKEN_CLS"
    )

    adapters = sum(param.numel() for name, param in model.named_parameters() if ".adapter." in name)
    hidden = base.config.hidden_size
    assert adapters == 2 * (hidden * 8 + 8 + 8 * hidden + hidden)
    trainable, total = count_parameters(model)
    assert total == base_total + adapters
    assert adapters < trainable < total / 50


def test_adaptation_adalora_passes_total_steps(make_base):
    model = apply_adaptation(
        make_base("classification"), AdaptationConfig(method="adalora"), "SEQ_CLS", 10
    )
    assert model.peft_config["default"].total_step == 10
