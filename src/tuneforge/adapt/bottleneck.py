"""Houlsby bottleneck adapters (Houlsby et al., 2019, "Parameter-Efficient Transfer Learning for NLP").

In-house rather than through the ``adapters`` package: that package pins an old transformers
release, and the method is small (two linear layers per insertion point).

Each transformer layer gets two adapters, one after the attention output projection and one
after the feed-forward output projection, both before the residual add and LayerNorm, as in
the paper's Figure 2 (BERT's hidden dropout then applies to the adapter's output). Only the adapters, all LayerNorms and the task head are trained.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import PreTrainedModel

from tuneforge.errors import ConfigError, ModelError
from tuneforge.modeling import TASK_HEAD_NAMES

ADAPTER_WEIGHTS = "adapter_model.safetensors"
ADAPTER_CONFIG = "adapter_config.json"

# BERT-family layout (BERT, RoBERTa, XLM-R, ELECTRA, ...): encoder.layer.<i>.attention.output.dense
# is the attention output projection, encoder.layer.<i>.output.dense the FFN output projection.
_PROJECTION_NAME = re.compile(r"(^|\.)encoder\.layer\.\d+\.(attention\.output|output)\.dense$")
# Houlsby et al. (2019, section 3.1) initialise adapters near identity with zero-mean normal
# weights of std 1e-2; the up projection here starts exactly at zero so that the adapted model
# computes the same function as the base model before the first step.
_DOWN_INIT_STD = 1e-2


class BottleneckAdapter(nn.Module):
    """``h + up(GELU(down(h)))``: a residual bottleneck around a projection's output."""

    def __init__(self, hidden_size: int, bottleneck_size: int) -> None:
        super().__init__()
        self.down = nn.Linear(hidden_size, bottleneck_size)
        self.up = nn.Linear(bottleneck_size, hidden_size)
        nn.init.normal_(self.down.weight, std=_DOWN_INIT_STD)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return hidden_states + self.up(nn.functional.gelu(self.down(hidden_states)))


class AdaptedProjection(nn.Module):
    """A frozen projection followed by its bottleneck adapter."""

    def __init__(self, projection: nn.Linear, adapter: BottleneckAdapter) -> None:
        super().__init__()
        self.projection = projection
        self.adapter = adapter

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.adapter(self.projection(hidden_states))


def add_bottleneck_adapters(model: PreTrainedModel, bottleneck_size: int) -> PreTrainedModel:
    """Insert Houlsby adapters into every layer of a BERT-family model, in place.

    Freezes everything except the adapters, all LayerNorms and the task head.

    Args:
        model: a transformers encoder with a task head named ``classifier`` or ``score``.
        bottleneck_size: hidden size of each adapter's down/up projection.

    Returns:
        The same model object, adapted.

    Raises:
        ConfigError: no attention/FFN output projections or no task head were found.
    """
    projections = [
        (name, module)
        for name, module in model.named_modules()
        if _PROJECTION_NAME.search(name) and isinstance(module, nn.Linear)
    ]
    architecture = _architecture(model)
    if not projections:
        raise ConfigError(
            f"adaptation.method bottleneck: found no encoder.layer.<i>.attention.output.dense / "
            f"encoder.layer.<i>.output.dense projections in {architecture}; bottleneck adapters "
            "support BERT-family encoders. Use method lora (or ia3) for this model."
        )
    head = _task_head(model, architecture)
    model.requires_grad_(False)
    for name, projection in projections:
        parent_name, _, attribute = name.rpartition(".")
        adapter = BottleneckAdapter(projection.out_features, bottleneck_size).to(
            device=projection.weight.device, dtype=projection.weight.dtype
        )
        setattr(model.get_submodule(parent_name), attribute, AdaptedProjection(projection, adapter))
    for module in model.modules():
        # Houlsby et al. (2019, Figure 2) train each layer's LayerNorm along with the adapters.
        if isinstance(module, nn.LayerNorm):
            module.requires_grad_(True)
    head.requires_grad_(True)
    return model


def save_bottleneck(model: PreTrainedModel, directory: Path, base_model_name: str) -> None:
    """Write the trainable weights (adapters, LayerNorms, head) and the adapter config.

    Args:
        model: a model adapted with :func:`add_bottleneck_adapters`.
        directory: an existing folder; gets adapter_model.safetensors and adapter_config.json.
        base_model_name: the base model's name or path, recorded for loading.
    """
    adapters = [module for module in model.modules() if isinstance(module, BottleneckAdapter)]
    if not adapters:
        raise ValueError("save_bottleneck: the model has no bottleneck adapters")
    trainable = {
        name: param.detach().contiguous().cpu()
        for name, param in model.named_parameters()
        if param.requires_grad
    }
    directory = Path(directory)
    save_file(trainable, str(directory / ADAPTER_WEIGHTS))
    meta = {
        "method": "bottleneck",
        "bottleneck_size": adapters[0].down.out_features,
        "base_model": base_model_name,
    }
    (directory / ADAPTER_CONFIG).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")


def load_bottleneck(base_model: PreTrainedModel, directory: Path) -> PreTrainedModel:
    """Re-insert adapters into ``base_model`` and load the saved weights, in eval mode.

    Raises:
        ModelError: the folder is not a bottleneck save, or its weights do not match the
            model exactly (missing or unexpected keys, other shapes).
    """
    directory = Path(directory)
    meta = json.loads((directory / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    if meta.get("method") != "bottleneck":
        raise ModelError(f"{directory / ADAPTER_CONFIG} does not describe a bottleneck adapter")
    model = add_bottleneck_adapters(base_model, int(meta["bottleneck_size"]))
    saved = load_file(str(directory / ADAPTER_WEIGHTS))
    expected = {name for name, param in model.named_parameters() if param.requires_grad}
    missing, unexpected = sorted(expected - saved.keys()), sorted(saved.keys() - expected)
    if missing or unexpected:
        raise ModelError(
            f"{directory / ADAPTER_WEIGHTS} does not match the base model {meta.get('base_model')}: "
            f"missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    try:
        model.load_state_dict(saved, strict=False)
    except RuntimeError as exc:  # shape mismatch, e.g. a head with another label count
        raise ModelError(f"{directory / ADAPTER_WEIGHTS}: {exc}") from exc
    return model.eval()


def _task_head(model: nn.Module, architecture: str) -> nn.Module:
    for name in TASK_HEAD_NAMES:
        head = getattr(model, name, None)
        if isinstance(head, nn.Module):
            return head
    raise ConfigError(
        f"adaptation.method bottleneck: {architecture} has no task head named "
        f"{' or '.join(TASK_HEAD_NAMES)} to train."
    )


def _architecture(model: nn.Module) -> str:
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    return (
        f"{type(model).__name__} (model_type {model_type})" if model_type else type(model).__name__
    )
