"""prune-magnitude: global unstructured magnitude pruning of the encoder's Linear weights.

The smallest weights of all encoder Linear layers together (one global L1 threshold, so layers
that matter less give up more) are set to zero, the model is fine-tuned briefly with the zeros
held by masks, and the masks are then folded into the weights. The saved model is dense: its
file size and speed are those of the original; only a compressed copy (zip) gets smaller. Sparse
kernels that turn zeros into speed are not part of stock PyTorch or ONNX Runtime CPU builds.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tuneforge.compress.methods import CompressOptions, SourceRun, register_method
from tuneforge.compress.recovery import recover_after_pruning
from tuneforge.errors import ConfigError

METHOD = "prune-magnitude"
_LAYER_INDEX = re.compile(r"\.\d+\.")


@register_method(METHOD, trains=True)
def prune_magnitude(source: SourceRun, model_dir: Path, options: CompressOptions) -> dict[str, Any]:
    """Prune to `options.sparsity`, fine-tune with the zeros kept, save a plain model folder."""
    check_sparsity(options.sparsity)
    model = source.load_model()
    linears = encoder_linears(model)
    prune_by_magnitude(linears, options.sparsity)
    metadata, steps = recover_after_pruning(model, source, options)
    make_permanent(linears)
    model.cpu()
    source.save_torch_model(model, model_dir, metadata=metadata)
    by_type = sparsity_by_layer_type(linears)
    weights = model_dir / "model.safetensors"
    return {
        "sparsity_target": options.sparsity,
        "sparsity_achieved": by_type.pop("all"),
        "sparsity_by_layer_type": by_type,
        "model_sparsity": zero_fraction(list(model.parameters())),
        "recovery_epochs": options.recovery_epochs,
        "recovery_steps": steps,
        "storage": (
            "dense: file size and speed unchanged (zeros are stored and multiplied like any "
            "weight); only a compressed copy shrinks"
        ),
        "weights_bytes": weights.stat().st_size,
        "weights_zip_bytes": zipped_size(weights),
        "source_weights_zip_bytes": zipped_size(source.model_dir / "model.safetensors"),
    }


def check_sparsity(sparsity: float) -> None:
    """Raises ConfigError unless 0 < sparsity < 1."""
    if not 0.0 < sparsity < 1.0:
        raise ConfigError(
            f"--method {METHOD}: sparsity must be between 0 and 1 (exclusive), the fraction of "
            f"encoder weights set to zero; got {sparsity}."
        )


def encoder_linears(model: nn.Module) -> list[tuple[str, nn.Linear]]:
    """(name, module) of every Linear layer of the transformer encoder (not embeddings, pooler
    or task head: the head is small and every one of its weights decides a label)."""
    encoder = getattr(model.base_model, "encoder", None)
    if encoder is None:
        raise ConfigError(
            f"--method {METHOD} needs a BERT-style model with an `encoder`; "
            f"{type(model).__name__} has none."
        )
    return [
        (f"encoder.{name}", module)
        for name, module in encoder.named_modules()
        if isinstance(module, nn.Linear)
    ]


def prune_by_magnitude(linears: list[tuple[str, nn.Linear]], sparsity: float) -> None:
    """Zero the `sparsity` smallest-|w| share of all the layers' weights together (one global
    threshold), through masks that keep the zeros through later training."""
    from torch.nn.utils import prune

    prune.global_unstructured(
        [(module, "weight") for _, module in linears],
        pruning_method=prune.L1Unstructured,
        amount=sparsity,
    )


def make_permanent(linears: list[tuple[str, nn.Linear]]) -> None:
    """Fold the pruning masks into the weights (a plain Linear again, zeros in place)."""
    from torch.nn.utils import prune

    for _, module in linears:
        if prune.is_pruned(module):
            prune.remove(module, "weight")


def zero_fraction(tensors: list[torch.Tensor]) -> float:
    """Share of exactly-zero entries over all the tensors."""
    total = sum(tensor.numel() for tensor in tensors)
    zeros = sum(int((tensor == 0).sum()) for tensor in tensors)
    return zeros / total if total else 0.0


def sparsity_by_layer_type(linears: list[tuple[str, nn.Linear]]) -> dict[str, float]:
    """Zero share of the weights per layer type across layers ("attention.self.query", ...)
    and over all of them ("all"), counted on the weights the layers compute with."""
    groups: dict[str, list[torch.Tensor]] = {}
    for name, module in linears:
        kind = _LAYER_INDEX.split(name, maxsplit=1)[-1]
        groups.setdefault(kind, []).append(module.weight.detach())
    result = {kind: zero_fraction(tensors) for kind, tensors in groups.items()}
    result["all"] = zero_fraction([module.weight.detach() for _, module in linears])
    return result


def zipped_size(path: Path) -> int:
    """Bytes of `path` after DEFLATE compression (what a zero-heavy file costs to ship)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(path, arcname=path.name)
    return buffer.tell()
