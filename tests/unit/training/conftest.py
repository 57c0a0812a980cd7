"""Fixtures of the training tests: the real all-MiniLM-L6-v2 cut to one layer, 36 BBC News
articles cut to 32 tokens, and a FitSetup factory with quiet, fast defaults."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import transformers
from transformers import AutoModelForSequenceClassification, AutoTokenizer, PreTrainedModel

from tuneforge.config import TrainingConfig
from tuneforge.training import FitSetup, TrainingHooks

from ._bbc import PER_TOPIC, TOPICS

# The 1-layer cut reports the other 5 layers' weights as unexpected on every load.
transformers.logging.set_verbosity_error()


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    # On a shared 2-core machine two intra-op threads contend and run several times slower than
    # one. Module scope: it must be in place before the module-scoped training runs start.
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def tokenizer(minilm_path: Path) -> transformers.PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="session")
def bbc_features(bbc_news_dir: Path, tokenizer) -> list[dict[str, Any]]:
    """The first 12 articles of business, sports and tech (labels 0, 1, 2), 32 tokens each."""
    texts, labels = [], []
    for label, topic in enumerate(TOPICS):
        for path in sorted((bbc_news_dir / topic).glob("*.txt"))[:PER_TOPIC]:
            texts.append(path.read_text(encoding="utf-8", errors="replace"))
            labels.append(label)
    encoded = tokenizer(texts, truncation=True, max_length=32)
    return [
        {**{key: encoded[key][i] for key in encoded}, "labels": label}
        for i, label in enumerate(labels)
    ]


@pytest.fixture(scope="session")
def _pristine_model(minilm_path: Path) -> PreTrainedModel:
    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(
        minilm_path, num_hidden_layers=1, num_labels=3
    )


@pytest.fixture(scope="session")
def make_model(_pristine_model) -> Callable[[], PreTrainedModel]:
    """A fresh copy of the 1-layer model with the same seeded head every time."""
    return lambda: copy.deepcopy(_pristine_model)


@pytest.fixture(scope="session")
def make_setup(tokenizer) -> Callable[..., FitSetup]:
    """``make_setup(checkpoint_dir, hooks=..., evaluate=..., resume=..., **training_fields)``."""

    def make(
        checkpoint_dir: Path | None,
        hooks: TrainingHooks | None = None,
        evaluate: Callable | None = None,
        resume: bool = False,
        metric_for_best: str = "loss",
        higher_is_better: bool = False,
        **training: Any,
    ) -> FitSetup:
        fields = {
            "batch_size": 4,
            "learning_rate": 1e-4,
            "warmup_ratio": 0.0,
            "log_every_steps": 1,
            "seed": 0,
            **training,
        }
        return FitSetup(
            config=TrainingConfig(**fields),
            pad_token_id=tokenizer.pad_token_id,
            checkpoint_dir=checkpoint_dir,
            precision="fp32",
            device=torch.device("cpu"),
            evaluate=evaluate,
            metric_for_best=metric_for_best,
            higher_is_better=higher_is_better,
            hooks=hooks or TrainingHooks(),
            resume=resume,
            show_progress=False,
        )

    return make
