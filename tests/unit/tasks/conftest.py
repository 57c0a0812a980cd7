"""Fixtures of the task tests: the real all-MiniLM-L6-v2 tokenizer and a config per task."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from transformers import AutoTokenizer, PreTrainedTokenizerBase

from tuneforge.config import RunConfig, config_from_dict


@pytest.fixture(scope="session")
def tokenizer(minilm_path: Path) -> PreTrainedTokenizerBase:
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture
def make_config() -> Callable[..., RunConfig]:
    """``make_config(task_type, **task_fields)``: a validated config of that task."""

    def build(task_type: str, **task: Any) -> RunConfig:
        return config_from_dict({"task": {"type": task_type, **task}})

    return build
