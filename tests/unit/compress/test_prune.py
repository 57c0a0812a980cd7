"""prune-magnitude on the shared tiny BBC run: sparsity reached and kept, the folder loads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from _configs import bbc_run
from torch import nn

from tuneforge.compress.methods import CompressOptions, SourceRun
from tuneforge.compress.prune import (
    encoder_linears,
    prune_by_magnitude,
    prune_magnitude,
    sparsity_by_layer_type,
    zero_fraction,
)
from tuneforge.errors import ConfigError, TuneforgeError


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> SourceRun:
    return SourceRun.open(bbc_run(tmp_path_factory))


def test_zero_fraction_counts_exact_zeros_over_all_tensors() -> None:
    tensors = [torch.tensor([0.0, 1.0, -0.0, 2.0]), torch.tensor([[0.0, 1e-9], [3.0, 0.0]])]
    assert zero_fraction(tensors) == 4 / 8


def test_sparsity_by_layer_type_groups_the_same_module_across_layers() -> None:
    first, second = nn.Linear(2, 2, bias=False), nn.Linear(2, 2, bias=False)
    first.weight.data = torch.tensor([[0.0, 1.0], [1.0, 1.0]])
    second.weight.data = torch.tensor([[0.0, 0.0], [0.0, 1.0]])
    linears = [("encoder.layer.0.output.dense", first), ("encoder.layer.1.output.dense", second)]
    assert sparsity_by_layer_type(linears) == {"output.dense": 4 / 8, "all": 4 / 8}


def test_prune_by_magnitude_uses_one_global_threshold(source: SourceRun) -> None:
    model = source.load_model()
    linears = encoder_linears(model)
    weights = torch.cat([module.weight.detach().abs().flatten() for _, module in linears])
    threshold = weights.kthvalue(int(0.3 * weights.numel())).values
    prune_by_magnitude(linears, 0.3)
    by_type = sparsity_by_layer_type(linears)
    assert by_type["all"] == pytest.approx(0.3, abs=1e-4)
    for _, module in linears:  # what survives is at least the global threshold, in every layer
        kept = module.weight.detach()[module.weight.detach() != 0]
        assert kept.abs().min() >= threshold


def test_prune_magnitude_keeps_the_zeros_through_recovery(
    source: SourceRun, tmp_path: Path
) -> None:
    from transformers import AutoModelForSequenceClassification

    from tuneforge.predict import load_predictor

    model_dir = tmp_path / "model"
    options = CompressOptions(sparsity=0.6, recovery_epochs=1.0, recovery_learning_rate=1e-3)
    details = prune_magnitude(source, model_dir, options)

    assert details["sparsity_achieved"] == pytest.approx(0.6, abs=0.005)
    assert details["recovery_steps"] > 0
    assert details["weights_zip_bytes"] < details["source_weights_zip_bytes"]
    # Counted again on the saved weights, loaded by plain transformers: recovery did not refill
    # the zeros, and it did change the weights that were kept.
    saved = AutoModelForSequenceClassification.from_pretrained(model_dir)
    reloaded = sparsity_by_layer_type(encoder_linears(saved))
    assert reloaded["all"] == pytest.approx(0.6, abs=0.005)
    original = source.load_model().state_dict()
    changed = saved.state_dict()["bert.encoder.layer.0.attention.self.query.weight"]
    before = original["bert.encoder.layer.0.attention.self.query.weight"]
    kept = changed != 0
    assert not torch.allclose(changed[kept], before[kept])

    prediction = load_predictor(model_dir).predict(["Shares in the bank fell on Monday."])[0]
    assert prediction["label"] in source.label_names


@pytest.mark.parametrize("sparsity", [0.0, 1.0, 1.5, -0.2])
def test_prune_magnitude_rejects_sparsity_outside_zero_one(
    source: SourceRun, tmp_path: Path, sparsity: float
) -> None:
    with pytest.raises(ConfigError, match="sparsity must be between 0 and 1"):
        prune_magnitude(source, tmp_path / "model", CompressOptions(sparsity=sparsity))


def test_weight_changing_methods_refuse_a_prefix_adapter_run(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    from tuneforge.compress.distill import distill
    from tuneforge.compress.heads import prune_heads

    adapter_only = SourceRun.open(bbc_run(tmp_path_factory, "prefix"))
    for method in (prune_magnitude, prune_heads, distill):
        with pytest.raises(TuneforgeError, match="cannot be merged"):
            method(adapter_only, tmp_path / "model", CompressOptions())
