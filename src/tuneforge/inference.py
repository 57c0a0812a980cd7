"""Batched forward passes shared by training-time evaluation, `evaluate` and the predictor.

Kept outside `training/` so that serving code can use it without importing the training loop.
"""

from __future__ import annotations

import contextlib
import functools
import os
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
def cpu_flags() -> frozenset[str]:
    """The instruction-set flags of the first CPU in /proc/cpuinfo (empty where there is none,
    e.g. macOS): they say which bf16/int8 kernels the hardware can run."""
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return frozenset()
    lines = cpuinfo.read_text(errors="replace").splitlines()
    flags_line = next((line for line in lines if line.startswith(("flags", "Features"))), "")
    return frozenset(flags_line.partition(":")[2].split())


@functools.cache
def _cpu_has_native_bf16() -> bool:
    # torch.backends.cpu.get_cpu_capability() reports the kernel dispatch level (e.g. "AVX512"),
    # not whether the cores have bf16 dot-product units, so read the CPU flags directly.
    flags = cpu_flags()
    if flags:
        return "avx512_bf16" in flags or "amx_bf16" in flags
    return "AMX" in torch.backends.cpu.get_cpu_capability()


@functools.cache
def physical_cores() -> int:
    """Physical CPU cores (not hyper-threads): ONNX Runtime and torch run best with one thread
    per core (the rule of pipeline.set_threads)."""
    import psutil

    return psutil.cpu_count(logical=False) or os.cpu_count() or 1


def default_device() -> torch.device:
    """The device this process computes on: its local rank's GPU under torchrun, else the GPU,
    else the CPU. Every stage asks here, so a run never splits across devices."""
    if torch.cuda.is_available():
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return torch.device("cpu")


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


def _holds_fp32_weights(model: torch.nn.Module) -> bool:
    """Whether autocast has anything to do: a model already held in bf16 runs as it is (under
    autocast its LayerNorms and softmaxes would be cast back up to fp32)."""
    return any(parameter.dtype == torch.float32 for parameter in model.parameters())


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
    autocast_precision = precision if _holds_fp32_weights(model) else "fp32"
    for indices in length_sorted_batches(features, batch_size):
        batch = collate([features[i] for i in indices], pad_token_id)
        batch = {key: value.to(device) for key, value in batch.items()}
        with autocast(device, autocast_precision):
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


# ONNX Runtime fusions left off. SkipLayerNormalization (residual add + LayerNorm in one op)
# costs 6.6x more per element than the plain LayerNormalization op in onnxruntime 1.32's CPU
# kernels: profiled on the BBC News int8 model at batch 32 x 128 (2 cores, AMX), its 12 nodes
# took 44 of 223 ms; unfused, the same adds and LayerNorms took about 15 ms and the model ran
# 1.17x faster (175 vs 150 texts/s).
UNFUSED_ORT_PATTERNS = ("SkipLayerNormFusion",)


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session with every graph optimisation on (except those in
    ``UNFUSED_ORT_PATTERNS``) and one intra-op thread per physical core (hyper-threads slow the
    matrix kernels down).

    Raises:
        ImportError: onnxruntime is not installed (named in the message).
    """
    try:
        import onnxruntime
    except ImportError as exc:
        raise ImportError(
            "Running an ONNX model needs onnxruntime: pip install 'tuneforge[compress]'."
        ) from exc
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or physical_cores()
    options.log_severity_level = 3  # errors only: ORT warns about every unused initializer
    return onnxruntime.InferenceSession(
        str(path),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(UNFUSED_ORT_PATTERNS),
    )


class OnnxTaskModel:
    """An exported task model run by ONNX Runtime; takes the place of the torch module in the
    predictor and returns logits like :func:`forward_logits`."""

    def __init__(self, path: Path, threads: int | None = None) -> None:
        self.path = Path(path)
        self.session = onnx_session(self.path, threads)
        self.input_names = [node.name for node in self.session.get_inputs()]

    def forward_logits(
        self, features: list[dict[str, Any]], batch_size: int, pad_token_id: int
    ) -> list[np.ndarray]:
        """Logits of every example in input order (token tasks cut to the real length)."""
        outputs: list[np.ndarray | None] = [None] * len(features)
        for indices in length_sorted_batches(features, batch_size):
            batch = collate([features[i] for i in indices], pad_token_id)
            feed = {name: batch[name].numpy() for name in self.input_names}
            logits = self.session.run(["logits"], feed)[0]
            for row, index in enumerate(indices):
                length = len(features[index]["input_ids"])
                outputs[index] = logits[row, :length] if logits.ndim == 3 else logits[row]
        return [array for array in outputs if array is not None]


def quantize_linear_int8(model: torch.nn.Module) -> torch.nn.Module:
    """PyTorch dynamic int8 on every Linear layer (weights int8, activations quantised per
    batch at run time): the no-ONNX path of `tuneforge compress --method torch-int8`."""
    import warnings

    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao, which is not a dependency;
        # the eager dynamic API still works in torch 2.13.
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(
            model.float().eval(), {torch.nn.Linear}, dtype=torch.qint8
        )


def pool_windows(
    rows: list[np.ndarray], features: list[dict[str, Any]], pooling: str = "mean"
) -> tuple[list[np.ndarray], list[dict[str, Any]]]:
    """One logits row (and one feature, the first window's) per text from windowed features
    (model.long_text: chunks); features without a "document" index are returned as they are."""
    if not features or "document" not in features[0]:
        return rows, features
    grouped: dict[int, list[np.ndarray]] = {}
    first: dict[int, dict[str, Any]] = {}
    for row, feature in zip(rows, features, strict=True):
        grouped.setdefault(feature["document"], []).append(row)
        first.setdefault(feature["document"], feature)
    reduce = np.max if pooling == "max" else np.mean
    documents = sorted(grouped)
    pooled = [reduce(np.stack(grouped[d]), axis=0) for d in documents]
    return pooled, [first[d] for d in documents]
