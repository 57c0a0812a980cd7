"""Fixtures of the adaptation tests: fresh copies of the tiny real model, a tiny real batch."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import transformers
from transformers import AutoTokenizer, PreTrainedModel

from ._tiny_model import NUM_LABELS, TEXTS, load_base

# The 1-layer cut reports the other 5 layers' weights as unexpected on every load.
transformers.logging.set_verbosity_error()


@pytest.fixture(scope="session")
def _pristine_models(minilm_path: Path) -> dict[str, PreTrainedModel]:
    return {}


@pytest.fixture
def make_base(
    minilm_path: Path, _pristine_models: dict[str, PreTrainedModel]
) -> Callable[[str], PreTrainedModel]:
    """``make_base(task)``: a fresh copy of the 1-layer model (loaded once per task)."""

    def make(task: str) -> PreTrainedModel:
        if task not in _pristine_models:
            _pristine_models[task] = load_base(minilm_path, task)
        return copy.deepcopy(_pristine_models[task])

    return make


@pytest.fixture(scope="session")
def tokenizer(minilm_path: Path) -> transformers.PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture
def make_batch(tokenizer) -> Callable[[str], dict[str, torch.Tensor]]:
    """``make_batch(task)``: two tokenized sentences with labels of the task's shape."""

    def make(task: str) -> dict[str, torch.Tensor]:
        batch = dict(tokenizer(TEXTS, padding=True, return_tensors="pt"))
        if task == "classification":
            batch["labels"] = torch.tensor([0, 2])
        elif task == "multilabel":
            batch["labels"] = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
        elif task == "regression":
            batch["labels"] = torch.tensor([0.3, -1.2])
        else:
            generator = torch.Generator().manual_seed(0)
            tags = torch.randint(
                0, NUM_LABELS["ner"], batch["input_ids"].shape, generator=generator
            )
            special = torch.isin(batch["input_ids"], torch.tensor(tokenizer.all_special_ids))
            batch["labels"] = tags.masked_fill(special, -100)
        return batch

    return make
