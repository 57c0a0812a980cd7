"""The training attention kernel: eager on a CPU with attention dropout, restored afterwards."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tuneforge.training.attention import attention_dropout, resolve_attention, training_attention

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def model(minilm_path: Path) -> torch.nn.Module:
    return AutoModelForSequenceClassification.from_pretrained(
        minilm_path, num_labels=3, num_hidden_layers=1
    )


def test_attention_auto_picks_eager_on_cpu_only_with_attention_dropout(model) -> None:
    assert attention_dropout(model) == pytest.approx(0.1)  # all-MiniLM-L6-v2's config
    assert resolve_attention("auto", model, CPU) == "eager"
    assert resolve_attention("auto", model, torch.device("cuda")) is None
    assert resolve_attention("sdpa", model, CPU) == "sdpa"

    no_dropout = torch.nn.Linear(2, 2)
    assert attention_dropout(no_dropout) == 0.0
    assert resolve_attention("auto", no_dropout, CPU) is None


def test_attention_switches_inside_the_block_and_restores_after(model) -> None:
    before = model.config._attn_implementation
    assert before != "eager"  # transformers' default for BERT is sdpa

    with training_attention(model, "auto", CPU) as used:
        assert used == "eager"
        assert model.config._attn_implementation == "eager"

    assert model.config._attn_implementation == before


def test_attention_restores_after_an_error(model) -> None:
    before = model.config._attn_implementation
    with pytest.raises(RuntimeError), training_attention(model, "eager", CPU):
        raise RuntimeError("a crash inside training")
    assert model.config._attn_implementation == before


def test_attention_module_without_setter_is_left_alone() -> None:
    linear = torch.nn.Linear(2, 2)
    with training_attention(linear, "eager", CPU) as used:
        assert used is None


def test_attention_eager_and_sdpa_compute_the_same_function(model, minilm_path: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    batch = tokenizer(
        ["Shares fell.", "The striker scored twice in the second half of the final."],
        padding=True,
        return_tensors="pt",
    )
    model.eval()
    with torch.inference_mode():
        default = model(**batch).logits
        with training_attention(model, "eager", CPU):
            eager = model(**batch).logits
    torch.testing.assert_close(eager, default, atol=1e-5, rtol=1e-5)
