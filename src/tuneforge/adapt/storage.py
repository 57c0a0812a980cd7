"""Save an adapted model in the form its method allows, and load any of those forms back."""

from __future__ import annotations

import copy
import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import transformers
from peft import PeftModel
from torch import nn
from transformers import PreTrainedModel

from tuneforge.adapt.bottleneck import ADAPTER_CONFIG, load_bottleneck, save_bottleneck
from tuneforge.adapt.peft_methods import quiet_peft_deprecations
from tuneforge.config import AdaptationConfig
from tuneforge.errors import ModelError

SavedKind = Literal["full", "merged", "adapter"]

# Methods whose update can be folded into the base weights: LoRA/AdaLoRA add a low-rank
# product, (IA)³ rescales rows or columns. Prefix/prompt tokens and bottleneck layers add
# computation that no weight of the base model can express.
_MERGEABLE = ("lora", "adalora", "ia3")


def save_adapted_model(
    model: nn.Module, directory: Path, config: AdaptationConfig, base_model_name: str
) -> SavedKind:
    """Save ``model`` into ``directory`` atomically (a half-written folder is never visible).

    Args:
        model: the model returned by ``apply_adaptation`` (trained).
        directory: the target folder; an existing one is replaced.
        config: the adaptation section that produced the model.
        base_model_name: the base model's name or path, recorded in adapter configs.

    Returns:
        "full" (a transformers model folder), "merged" (adapter folded in: a plain
        transformers model folder that ``from_pretrained`` and ``pipeline`` load) or
        "adapter" (only the adapter weights and a reference to the base model).
    """
    directory = Path(directory)
    kind = _saved_kind(config)
    with _atomic_directory(directory) as staging:
        if kind == "full":
            model.save_pretrained(staging)
        elif kind == "merged":
            # Merge a copy: merge_and_unload rewrites the modules in place, and the caller may
            # keep training the adapter after saving a checkpoint.
            copy.deepcopy(_as_peft(model)).merge_and_unload().save_pretrained(staging)
        elif config.method == "bottleneck":
            save_bottleneck(model, staging, base_model_name)
        else:
            # peft compares the vocabulary with the base model it recorded (a local path), so
            # the user-facing name is written into the config only after saving.
            _as_peft(model).save_pretrained(staging)
            _record_base_model(staging / ADAPTER_CONFIG, base_model_name)
    return kind


def load_adapted_model(directory: Path, load_base: Callable[[], PreTrainedModel]) -> nn.Module:
    """Load what :func:`save_adapted_model` wrote, ready to run in eval mode.

    Args:
        directory: a folder written by :func:`save_adapted_model`.
        load_base: returns the base model with the task's head (right label count); called
            only for adapter saves.

    Raises:
        ModelError: the folder holds neither a transformers model nor a known adapter.
    """
    directory = Path(directory)
    adapter_config = directory / ADAPTER_CONFIG
    if adapter_config.is_file():
        meta = json.loads(adapter_config.read_text(encoding="utf-8"))
        if "peft_type" in meta:
            with quiet_peft_deprecations():
                model = PeftModel.from_pretrained(load_base(), directory)
        elif meta.get("method") == "bottleneck":
            model = load_bottleneck(load_base(), directory)
        else:
            raise ModelError(f"{adapter_config}: neither a peft nor a bottleneck adapter config")
    elif (directory / "config.json").is_file():
        model = _load_plain(directory)
    else:
        raise ModelError(f"{directory} holds no saved model (no config.json or {ADAPTER_CONFIG})")
    return model.eval()


def _saved_kind(config: AdaptationConfig) -> SavedKind:
    if config.method == "full":
        return "full"
    if config.save == "merged" and config.method in _MERGEABLE:
        return "merged"
    return "adapter"


def _as_peft(model: nn.Module) -> PeftModel:
    if not isinstance(model, PeftModel):
        raise TypeError(f"expected a peft model, got {type(model).__name__}")
    return model


def _record_base_model(adapter_config: Path, base_model_name: str) -> None:
    meta = json.loads(adapter_config.read_text(encoding="utf-8"))
    meta["base_model_name_or_path"] = base_model_name
    adapter_config.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _load_plain(directory: Path) -> PreTrainedModel:
    model_config = transformers.AutoConfig.from_pretrained(directory)
    architectures = model_config.architectures or []
    model_class = getattr(transformers, architectures[0], None) if architectures else None
    if model_class is None:
        raise ModelError(f"{directory / 'config.json'} names no known architecture")
    return model_class.from_pretrained(directory)


@contextmanager
def _atomic_directory(directory: Path) -> Iterator[Path]:
    """Yield a staging folder that replaces ``directory`` only once fully written."""
    staging = directory.with_name(directory.name + ".tmp")
    previous = directory.with_name(directory.name + ".old")
    if previous.exists() and not directory.exists():
        # An earlier save stopped between the two renames below: the last good copy is here.
        os.replace(previous, directory)
    for leftover in (staging, previous):
        if leftover.exists():
            shutil.rmtree(leftover)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    # A non-empty folder cannot be replaced in one rename, so the old one is moved aside first
    # and deleted only after the new one is in place.
    if directory.exists():
        os.replace(directory, previous)
    os.replace(staging, directory)
    shutil.rmtree(previous, ignore_errors=True)
