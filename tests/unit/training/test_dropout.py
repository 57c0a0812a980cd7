"""Fast CPU dropout masks: the distribution torch's dropout has, the seeding it has, and reach into
every F.dropout call of a real model while training."""

from __future__ import annotations

import math

import pytest
import torch

from tuneforge.training.dropout import (
    dropout_threshold,
    fast_dropout,
    keep_mask,
    resolve_dropout_generator,
    training_dropout,
)

CPU = torch.device("cpu")


def _dropped_share(mask: torch.Tensor) -> float:
    return 1.0 - mask.float().mean().item()


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_each_element_is_dropped_with_probability_p(p: float) -> None:
    count = 1 << 21
    share = _dropped_share(keep_mask(torch.Size([count]), p, seed=3))
    rounded = dropout_threshold(p) / 2**16
    assert abs(rounded - p) <= 2**-17
    sigma = math.sqrt(rounded * (1 - rounded) / count)
    assert abs(share - rounded) < 5 * sigma


def test_every_lane_of_a_generator_word_drops_alike() -> None:
    # Four 16-bit draws come from each 64-bit output: a bad lane split would bias positions.
    mask = keep_mask(torch.Size([1 << 20, 4]), 0.25, seed=11)
    sigma = math.sqrt(0.25 * 0.75 / (1 << 20))
    for lane in range(4):
        assert abs(_dropped_share(mask[:, lane]) - 0.25) < 5 * sigma
    # Neighbouring elements are independent: both dropped as often as p squared.
    both = (~mask[:, 0] & ~mask[:, 1]).float().mean().item()
    assert abs(both - 0.0625) < 5 * math.sqrt(0.0625 * 0.9375 / (1 << 20))


def test_kept_values_are_scaled_so_the_expectation_is_unchanged() -> None:
    tensor = torch.full((1 << 20,), 3.0)
    output = fast_dropout(tensor, 0.1)
    kept = output != 0
    scale = 2**16 / (2**16 - dropout_threshold(0.1))
    assert torch.equal(output[kept], torch.full_like(output[kept], 3.0 * scale))
    assert output.mean().item() == pytest.approx(3.0, rel=3e-3)
    assert tensor.eq(3.0).all()  # not in place unless asked


def test_masks_follow_torch_seed_and_differ_between_calls() -> None:
    tensor = torch.ones(64, 64)
    torch.manual_seed(7)
    first, second = fast_dropout(tensor, 0.3), fast_dropout(tensor, 0.3)
    torch.manual_seed(7)
    assert torch.equal(fast_dropout(tensor, 0.3), first)
    assert not torch.equal(first, second)


def test_gradient_is_the_mask_times_the_scale() -> None:
    tensor = torch.randn(32, 48, dtype=torch.bfloat16, requires_grad=True)
    output = fast_dropout(tensor, 0.2)
    output.sum().backward()
    scale = 2**16 / (2**16 - dropout_threshold(0.2))
    expected = torch.where(output != 0, scale, 0.0).to(torch.bfloat16)
    assert output.dtype == torch.bfloat16
    assert torch.equal(tensor.grad, expected)


def test_in_place_dropout_writes_into_the_tensor() -> None:
    tensor = torch.ones(256)
    result = fast_dropout(tensor, 0.5, inplace=True)
    assert result.data_ptr() == tensor.data_ptr()
    assert 0 < int((tensor == 0).sum()) < 256


def test_auto_uses_numpy_masks_on_cpu_only() -> None:
    assert resolve_dropout_generator("auto", CPU) == "numpy"
    assert resolve_dropout_generator("auto", torch.device("cuda")) == "torch"
    assert resolve_dropout_generator("torch", CPU) == "torch"


def test_block_sends_module_dropout_through_fast_masks_in_training_only() -> None:
    layer = torch.nn.Dropout(0.1)
    tensor = torch.randn(128, 128)
    torch.manual_seed(5)
    expected = fast_dropout(tensor, 0.1)

    with training_dropout("auto", CPU) as generator:
        assert generator == "numpy"
        torch.manual_seed(5)
        assert torch.equal(layer(tensor), expected)
        layer.eval()
        assert torch.equal(layer(tensor), tensor)
        layer.train()
        assert torch.equal(torch.nn.functional.dropout(tensor, 0.0), tensor)

    torch.manual_seed(5)
    assert not torch.equal(layer(tensor), expected)  # torch's own masks outside the block
    with training_dropout("torch", CPU) as generator:
        torch.manual_seed(5)
        assert generator == "torch"
        assert not torch.equal(layer(tensor), expected)


def test_real_model_trains_reproducibly_with_fast_masks(make_model) -> None:
    """Every dropout of all-MiniLM-L6-v2 (hidden and eager attention) takes the fast masks:
    the same torch seed gives the same loss, and the loss differs from torch's masks."""
    model = make_model()
    model.set_attn_implementation("eager")
    model.train()
    inputs = {
        "input_ids": torch.randint(1000, 2000, (4, 24)),
        "attention_mask": torch.ones(4, 24, dtype=torch.long),
    }

    def loss(generator: str) -> float:
        torch.manual_seed(1)
        with training_dropout(generator, CPU), torch.no_grad():
            return model(**inputs).logits.float().pow(2).sum().item()

    assert loss("numpy") == loss("numpy")
    assert loss("numpy") != loss("torch")
    model.eval()
    assert loss("numpy") == loss("torch")  # no dropout in evaluation
