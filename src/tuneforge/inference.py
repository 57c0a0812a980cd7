"""Batched forward passes shared by training-time evaluation, `evaluate` and the predictor.

Kept outside `train/` so that serving code can use it without importing the training loop.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
IGNORE_INDEX = -100


def collate(features: list[dict[str, Any]], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Pad a batch to its longest member (dynamic padding) and stack the labels.

    Label kinds: an int (class index), a float (regression target), a list of floats of fixed
    length (multi-hot), or a list of ints as long as the input (token tags, padded with -100).
    """
    lengths = [len(feature["input_ids"]) for feature in features]
    width = max(lengths)
    batch: dict[str, torch.Tensor] = {}
    for key in MODEL_INPUTS:
        if key not in features[0]:
            continue
        fill = pad_token_id if key == "input_ids" else 0
        tensor = torch.full((len(features), width), fill, dtype=torch.long)
        for row, feature in enumerate(features):
            tensor[row, : lengths[row]] = torch.as_tensor(feature[key], dtype=torch.long)
        batch[key] = tensor
    if "labels" in features[0]:
        batch["labels"] = _collate_labels([feature["labels"] for feature in features], width)
    return batch


def _collate_labels(labels: list[Any], width: int) -> torch.Tensor:
    first = labels[0]
    if isinstance(first, int):
        return torch.tensor(labels, dtype=torch.long)
    if isinstance(first, float):
        return torch.tensor(labels, dtype=torch.float32)
    if first and isinstance(first[0], float):
        return torch.tensor(labels, dtype=torch.float32)
    tensor = torch.full((len(labels), width), IGNORE_INDEX, dtype=torch.long)
    for row, tags in enumerate(labels):
        tensor[row, : len(tags)] = torch.as_tensor(tags, dtype=torch.long)
    return tensor


@functools.cache
def _cpu_has_native_bf16() -> bool:
    # torch.backends.cpu.get_cpu_capability() reports the kernel dispatch level (e.g. "AVX512"),
    # not whether the cores have bf16 dot-product units, so read the CPU flags directly.
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        flags = cpuinfo.read_text(errors="replace")
        return "avx512_bf16" in flags or "amx_bf16" in flags
    return "AMX" in torch.backends.cpu.get_cpu_capability()


def resolve_precision(precision: str, device: torch.device) -> str:
    """ "bf16" or "fp32": bf16 only where the hardware computes it natively (auto)."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if _cpu_has_native_bf16() else "fp32"


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def length_sorted_batches(features: list[dict[str, Any]], batch_size: int) -> Iterator[list[int]]:
    """Indices in batches of similar length (longest first), for inference with little padding."""
    order = sorted(range(len(features)), key=lambda i: -len(features[i]["input_ids"]))
    for start in range(0, len(order), batch_size):
        yield order[start : start + batch_size]


@torch.inference_mode()
def forward_logits(
    model: torch.nn.Module,
    features: list[dict[str, Any]],
    batch_size: int,
    pad_token_id: int,
    device: torch.device,
    precision: str = "fp32",
) -> tuple[list[np.ndarray], float]:
    """Logits of every example in input order, and the mean loss when labels are present.

    Sequence tasks get a (num_labels,) array per example; token tasks a (length, num_labels) array
    cut to the example's real length.
    """
    was_training = model.training
    model.eval()
    outputs: list[np.ndarray | None] = [None] * len(features)
    loss_sum, loss_count = 0.0, 0
    for indices in length_sorted_batches(features, batch_size):
        batch = collate([features[i] for i in indices], pad_token_id)
        batch = {key: value.to(device) for key, value in batch.items()}
        with autocast(device, precision):
            result = model(**batch)
        if result.loss is not None:
            loss_sum += float(result.loss) * len(indices)
            loss_count += len(indices)
        logits = result.logits.float().cpu().numpy()
        for row, index in enumerate(indices):
            length = len(features[index]["input_ids"])
            outputs[index] = logits[row, :length] if logits.ndim == 3 else logits[row]
    model.train(was_training)
    mean_loss = loss_sum / loss_count if loss_count else float("nan")
    return [array for array in outputs if array is not None], mean_loss
