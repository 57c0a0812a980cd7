"""Houlsby bottleneck adapters on the real 1-layer MiniLM."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import DistilBertConfig, DistilBertForSequenceClassification

from tuneforge.adapt.bottleneck import (
    BottleneckAdapter,
    add_bottleneck_adapters,
    load_bottleneck,
    save_bottleneck,
)
from tuneforge.errors import ConfigError, ModelError

from ._tiny_model import eval_logits, load_base, optimizer_step

TASKS = ["classification", "ner", "regression", "multilabel"]


def _is_bottleneck_trainable(name: str) -> bool:
    return ".adapter." in name or "LayerNorm" in name or name.startswith("classifier.")


@pytest.mark.parametrize("task", TASKS)
def test_bottleneck_is_identity_at_init(make_base, make_batch, task):
    model, batch = make_base(task), make_batch(task)
    base_logits = eval_logits(model, batch)

    add_bottleneck_adapters(model, bottleneck_size=16)

    assert torch.equal(eval_logits(model, batch), base_logits)


@pytest.mark.parametrize("task", ["classification", "ner"])
def test_bottleneck_trains_adapters_layer_norms_and_head(make_base, task):
    model = add_bottleneck_adapters(make_base(task), bottleneck_size=16)
    params = dict(model.named_parameters())
    trainable = {name for name, param in params.items() if param.requires_grad}

    adapters = [module for module in model.modules() if isinstance(module, BottleneckAdapter)]
    assert len(adapters) == 2  # one layer: after attention output and after FFN output
    assert trainable == {name for name in params if _is_bottleneck_trainable(name)}
    assert "bert.encoder.layer.0.attention.output.dense.adapter.up.weight" in trainable
    assert "bert.encoder.layer.0.output.dense.adapter.down.weight" in trainable
    assert {"classifier.weight", "classifier.bias"} <= trainable
    assert "bert.encoder.layer.0.attention.self.query.weight" not in trainable


@pytest.mark.parametrize("task", ["classification", "ner"])
def test_bottleneck_one_step_moves_adapters_not_base(make_base, make_batch, task):
    model = add_bottleneck_adapters(make_base(task), bottleneck_size=16)
    before = {name: param.detach().clone() for name, param in model.named_parameters()}

    optimizer_step(model, make_batch(task))

    params = dict(model.named_parameters())
    changed = {name for name in before if not torch.equal(before[name], params[name])}
    assert all(params[name].requires_grad for name in changed)
    # The up projections start at zero, so they are what the first step moves.
    assert {name for name in changed if name.endswith("adapter.up.weight")} == {
        "bert.encoder.layer.0.attention.output.dense.adapter.up.weight",
        "bert.encoder.layer.0.output.dense.adapter.up.weight",
    }
    assert "classifier.weight" in changed


def test_bottleneck_save_load_roundtrip(make_base, make_batch, tmp_path):
    model, batch = add_bottleneck_adapters(make_base("ner"), 16), make_batch("ner")
    optimizer_step(model, batch)
    expected = eval_logits(model, batch)

    save_bottleneck(model, tmp_path, base_model_name="all-MiniLM-L6-v2")
    loaded = load_bottleneck(make_base("ner"), tmp_path)

    meta = json.loads((tmp_path / "adapter_config.json").read_text())
    assert meta == {"method": "bottleneck", "bottleneck_size": 16, "base_model": "all-MiniLM-L6-v2"}
    assert not loaded.training
    assert torch.equal(eval_logits(loaded, batch), expected)


def test_bottleneck_load_rejects_other_base(make_base, minilm_path, tmp_path):
    save_bottleneck(add_bottleneck_adapters(make_base("classification"), 16), tmp_path, "m")
    two_layers = load_base(minilm_path, "classification", num_hidden_layers=2)

    with pytest.raises(ModelError, match=r"missing \['bert.encoder.layer.1"):
        load_bottleneck(two_layers, tmp_path)


def test_bottleneck_unknown_architecture_is_config_error():
    # DistilBERT names its projections attention.out_lin / ffn.lin2; random weights suffice
    # because the error comes before any computation.
    config = DistilBertConfig(n_layers=1, dim=32, hidden_dim=64, n_heads=2, vocab_size=100)
    model = DistilBertForSequenceClassification(config)

    with pytest.raises(ConfigError, match=r"DistilBertForSequenceClassification.*Use method lora"):
        add_bottleneck_adapters(model, 8)
