"""prune-heads: structured pruning of attention heads by importance (Michel et al. 2019, "Are
Sixteen Heads Really Better than One?").

A head's importance is |dL/dξ_h| summed over batches, where ξ_h is a gate multiplied into the
head's attention output (all gates at 1): the first-order estimate of how much the loss changes if
the head is removed. The least important heads of the whole model are cut out of the weight
matrices (query/key/value rows and the attention output's columns), so the model really is
smaller and faster. transformers 5 BERT has neither a head_mask argument nor prune_heads(): the
gates are forward hooks on each layer's self-attention output, and the slicing is done here.
Layers then have different head counts, which a transformers config cannot describe, so the
model is saved as ONNX.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tuneforge.compress.methods import CompressOptions, SourceRun, register_method
from tuneforge.compress.recovery import recover_after_pruning
from tuneforge.errors import ConfigError

METHOD = "prune-heads"


@register_method(METHOD, trains=True)
def prune_heads(source: SourceRun, model_dir: Path, options: CompressOptions) -> dict[str, Any]:
    """Remove the least important heads, fine-tune briefly, export to ONNX in `model_dir`."""
    from tuneforge.compress.onnx_export import ONNX_FILE, export_onnx, onnx_task_info
    from tuneforge.inference import collate

    model = source.load_model()
    layers = attention_layers(model)
    heads_before = [layer.self.num_attention_heads for layer in layers]
    to_prune = count_heads_to_prune(heads_before, options.heads_to_prune_ratio)
    features = _evenly_spaced(source.features("train"), options.calibration_size)
    pad_token_id = source.tokenizer.pad_token_id or 0
    batches = [
        collate(features[start : start + 16], pad_token_id) for start in range(0, len(features), 16)
    ]
    importance = normalize_by_layer(head_importance(model, batches))
    pruned = least_important_heads(importance, to_prune)
    parameters_before = sum(parameter.numel() for parameter in model.parameters())
    remove_heads(model, pruned)
    metadata, steps = recover_after_pruning(model, source, options)
    model.cpu().eval()
    parameters_after = sum(parameter.numel() for parameter in model.parameters())
    model_dir.mkdir(parents=True, exist_ok=True)
    export = export_onnx(
        model,
        source.tokenizer,
        source.task_type,
        model_dir / ONNX_FILE,
        source.max_seq_length,
        tolerance=options.parity_tolerance,
    )
    kept = [layer.self.num_attention_heads for layer in layers]
    source.write_info(
        model_dir,
        **onnx_task_info(),
        metadata=metadata,
        attention_heads_per_layer=kept,
    )
    return {
        "heads_pruned": {str(layer): heads for layer, heads in pruned.items()},
        "heads_kept_per_layer": kept,
        "heads_before_per_layer": heads_before,
        "head_importance": [[round(value, 4) for value in row] for row in importance.tolist()],
        "parameters_before": parameters_before,
        "parameters_after": parameters_after,
        "parameter_reduction": 1 - parameters_after / parameters_before,
        "recovery_epochs": options.recovery_epochs,
        "recovery_steps": steps,
        "onnx_max_abs_diff": export["max_abs_diff"],
    }


def attention_layers(model: nn.Module) -> list[nn.Module]:
    """Each encoder layer's attention block (`.self` with query/key/value, `.output.dense`)."""
    encoder = getattr(model.base_model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None or not all(hasattr(layer, "attention") for layer in layers):
        raise ConfigError(
            f"--method {METHOD} supports BERT-style encoders (encoder.layer[i].attention); "
            f"{type(model).__name__} is not one."
        )
    return [layer.attention for layer in layers]


def count_heads_to_prune(heads_per_layer: list[int], ratio: float) -> int:
    """round(ratio x all heads), checked to remove at least one head and keep one per layer.

    Raises:
        ConfigError: the ratio removes no head, or would leave a layer without heads.
    """
    total = sum(heads_per_layer)
    count = round(ratio * total)
    most = total - len(heads_per_layer)
    if count < 1 or count > most:
        raise ConfigError(
            f"--method {METHOD}: heads_to_prune_ratio {ratio} removes {count} of {total} heads; "
            f"it must remove at least 1 and at most {most} (one head kept in each of the "
            f"{len(heads_per_layer)} layers), i.e. lie between {1 / total:.3f} and "
            f"{most / total:.3f}."
        )
    return count


@contextmanager
def head_gates(model: nn.Module, gates: list[torch.Tensor]) -> Iterator[None]:
    """Multiply each head's attention output by its gate (`gates[layer][head]`) while inside."""

    def gate_hook(gate: torch.Tensor) -> Any:
        def hook(module: nn.Module, args: Any, output: Any) -> Any:
            context = output[0]  # (batch, sequence, heads x head size)
            shape = context.shape
            by_head = context.view(*shape[:-1], module.num_attention_heads, -1)
            gated = (by_head * gate.to(context.dtype)[:, None]).view(shape)
            return (gated, *output[1:])

        return hook

    handles = [
        layer.self.register_forward_hook(gate_hook(gate))
        for layer, gate in zip(attention_layers(model), gates, strict=True)
    ]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def head_importance(model: nn.Module, batches: list[dict[str, torch.Tensor]]) -> torch.Tensor:
    """(layers, heads): sum over labelled batches of |dL/dξ_h| at ξ = 1 (Michel et al. 2019,
    eq. 4; the absolute value per batch, as their code does, so that opposite-signed batches do
    not cancel). Dropout is off: the estimate is of the model that will be served."""
    layers = attention_layers(model)
    device = next(model.parameters()).device
    gates = [
        torch.ones(layer.self.num_attention_heads, device=device, requires_grad=True)
        for layer in layers
    ]
    importance = torch.zeros(len(layers), max(len(gate) for gate in gates))
    was_training = model.training
    model.eval()
    with head_gates(model, gates):
        for batch in batches:
            loss = model(**{key: value.to(device) for key, value in batch.items()}).loss
            grads = torch.autograd.grad(loss, gates)
            for index, grad in enumerate(grads):
                importance[index, : len(grad)] += grad.detach().abs().cpu()
    model.train(was_training)
    return importance


def normalize_by_layer(importance: torch.Tensor) -> torch.Tensor:
    """Divide each layer's scores by their L2 norm: Michel et al. 2019 (following Molchanov et
    al. 2017) find layer-normalised scores rank heads better for global pruning, since gradient
    scales differ between layers."""
    norms = importance.norm(dim=1, keepdim=True)
    return importance / norms.clamp_min(torch.finfo(importance.dtype).tiny)


def least_important_heads(importance: torch.Tensor, count: int) -> dict[int, list[int]]:
    """The `count` lowest-scoring heads of the model ({layer: sorted heads}), skipping any head
    whose removal would leave its layer empty."""
    layers, heads = importance.shape
    remaining = [heads] * layers
    chosen: dict[int, list[int]] = {}
    for flat in torch.argsort(importance.flatten(), stable=True).tolist():
        if count == 0:
            break
        layer, head = divmod(flat, heads)
        if remaining[layer] == 1:
            continue
        remaining[layer] -= 1
        chosen.setdefault(layer, []).append(head)
        count -= 1
    return {layer: sorted(found) for layer, found in sorted(chosen.items())}


def remove_heads(model: nn.Module, heads_by_layer: dict[int, list[int]]) -> None:
    """Cut the heads out of the weights: query/key/value lose those output rows, the attention
    output projection those input columns; the module's head count follows (BERT's forward
    reshapes with -1 heads of attention_head_size each)."""
    from transformers.pytorch_utils import prune_linear_layer

    layers = attention_layers(model)
    for layer_index, heads in heads_by_layer.items():
        attention = layers[layer_index].self
        size = attention.attention_head_size
        kept = [h for h in range(attention.num_attention_heads) if h not in set(heads)]
        index = torch.cat([torch.arange(h * size, (h + 1) * size) for h in kept])
        attention.query = prune_linear_layer(attention.query, index, dim=0)
        attention.key = prune_linear_layer(attention.key, index, dim=0)
        attention.value = prune_linear_layer(attention.value, index, dim=0)
        output = layers[layer_index].output
        output.dense = prune_linear_layer(output.dense, index, dim=1)
        attention.num_attention_heads = len(kept)
        attention.all_head_size = len(kept) * size


def _evenly_spaced(features: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """At most `count` features spread over the whole list (not just its first rows)."""
    step = max(1, len(features) // count)
    return features[::step][:count]
