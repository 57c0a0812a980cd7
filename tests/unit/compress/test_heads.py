"""prune-heads on the shared tiny BBC run: importance, physical removal, ONNX artifact."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from _configs import bbc_run

from tuneforge.compress.heads import (
    attention_layers,
    count_heads_to_prune,
    head_gates,
    head_importance,
    least_important_heads,
    normalize_by_layer,
    prune_heads,
    remove_heads,
)
from tuneforge.compress.methods import CompressOptions, SourceRun
from tuneforge.errors import ConfigError
from tuneforge.inference import collate


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> SourceRun:
    return SourceRun.open(bbc_run(tmp_path_factory))


@pytest.fixture(scope="module")
def batches(source: SourceRun) -> list[dict[str, torch.Tensor]]:
    features = source.features("train")[:32]
    return [collate(features[start : start + 16], 0) for start in (0, 16)]


def test_head_importance_ranks_a_silenced_head_last(source: SourceRun, batches: list) -> None:
    model = source.load_model()
    attention = attention_layers(model)[0].self
    size = attention.attention_head_size
    with torch.no_grad():  # head 3 outputs exactly zero: its value projection is zero
        attention.value.weight[3 * size : 4 * size] = 0.0
        attention.value.bias[3 * size : 4 * size] = 0.0
    importance = head_importance(model, batches)
    assert importance.shape == (1, 12)
    assert importance[0, 3] == 0.0
    assert (importance[0, torch.arange(12) != 3] > 0).all()
    assert least_important_heads(normalize_by_layer(importance), 1) == {0: [3]}


def test_least_important_heads_keeps_one_head_in_every_layer() -> None:
    importance = torch.tensor([[0.1, 0.2, 0.3], [0.9, 0.05, 0.8]])
    # Global order: (1,1) 0.05, (0,0) 0.1, (0,1) 0.2, (0,2) 0.3 — the last would empty layer 0.
    assert least_important_heads(importance, 4) == {0: [0, 1], 1: [1, 2]}


def test_normalize_by_layer_divides_each_row_by_its_l2_norm() -> None:
    normalized = normalize_by_layer(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
    assert torch.allclose(normalized, torch.tensor([[0.6, 0.8], [0.0, 0.0]]))


@pytest.mark.parametrize("ratio", [0.0, 0.01, 0.97, 1.0])
def test_count_heads_to_prune_rejects_ratios_that_remove_none_or_all(ratio: float) -> None:
    with pytest.raises(ConfigError, match="heads_to_prune_ratio"):
        count_heads_to_prune([12], ratio)


def test_removed_heads_give_the_logits_of_the_gated_model(source: SourceRun, batches: list) -> None:
    model = source.load_model()
    pruned = copy.deepcopy(model)
    removed = {0: [1, 5, 7]}
    gates = [torch.ones(12)]
    gates[0][removed[0]] = 0.0
    batch = {key: value for key, value in batches[0].items() if key != "labels"}
    with torch.no_grad(), head_gates(model, gates):
        expected = model(**batch).logits
    remove_heads(pruned, removed)
    with torch.no_grad():
        actual = pruned(**batch).logits
    assert attention_layers(pruned)[0].self.num_attention_heads == 9
    assert attention_layers(pruned)[0].self.query.out_features == 9 * 32
    assert torch.allclose(actual, expected, atol=1e-5)
    removed_parameters = sum(p.numel() for p in model.parameters()) - sum(
        p.numel() for p in pruned.parameters()
    )
    assert removed_parameters == 3 * (3 * (384 * 32 + 32) + 32 * 384)  # q, k, v rows; out columns


def test_prune_heads_writes_an_onnx_model_that_onnxruntime_runs(
    source: SourceRun, tmp_path: Path
) -> None:
    import onnxruntime

    from tuneforge.predict import load_predictor

    model_dir = tmp_path / "model"
    options = CompressOptions(heads_to_prune_ratio=0.25, recovery_epochs=0.4)
    details = prune_heads(source, model_dir, options)

    assert details["heads_kept_per_layer"] == [9]
    assert details["parameters_after"] < details["parameters_before"]
    assert details["recovery_steps"] == 2
    session = onnxruntime.InferenceSession(str(model_dir / "model.onnx"))
    encoded = source.tokenizer(["Shares fell.", "The minister spoke"], padding=True)
    feed = {node.name: np.asarray(encoded[node.name]) for node in session.get_inputs()}
    (logits,) = session.run(["logits"], feed)
    assert logits.shape == (2, len(source.label_names))
    prediction = load_predictor(model_dir).predict(["Shares in the bank fell on Monday."])[0]
    assert prediction["label"] in source.label_names
