"""Measure a loaded model the same way for every variant: size on disk, parameters, latency at
batch 1 and throughput at batch 32, end to end through ``Predictor.logits`` (tokenisation
included, as a user calling ``predict`` pays it)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tuneforge.data.records import Record
from tuneforge.inference import OnnxTaskModel
from tuneforge.openvino_runtime import OpenVinoTaskModel
from tuneforge.predict import Predictor

# Files that hold weights; the tokenizer and the JSON around them are the same for every variant.
_WEIGHT_SUFFIXES = (".safetensors", ".onnx", ".data", ".bin", ".pt", ".weights")
THROUGHPUT_BATCH_SIZE = 32
# Untimed passes before timing: the first calls allocate buffers and (ORT) pick kernels.
_WARMUP_PASSES = 2


def weights_size_bytes(model_dir: Path, model: Any = None) -> int:
    """Bytes on disk of the weight files of a model folder; for a run saved as an adapter (whose
    folder holds the adapter only, the base model being read from elsewhere), the bytes of the
    weights it loads, base and adapter: what serving it takes, comparable with a full copy."""
    from tuneforge.run.info import read_run_info

    model_dir = Path(model_dir)
    if isinstance(model, torch.nn.Module) and read_run_info(model_dir).saved_as == "adapter":
        tensors = [*model.parameters(), *model.buffers()]
        return sum(tensor.numel() * tensor.element_size() for tensor in tensors)
    return sum(
        path.stat().st_size
        for path in model_dir.iterdir()
        if path.is_file() and path.name.endswith(_WEIGHT_SUFFIXES)
    )


def parameter_counts(model: torch.nn.Module | OnnxTaskModel | OpenVinoTaskModel) -> dict[str, int]:
    """Total and non-zero parameters (torch: every weight; ONNX: every float or int8
    initializer, where one int8 weight counts as one parameter, scales and zero points not;
    OpenVINO: its weight constants)."""
    if isinstance(model, OnnxTaskModel):
        return _onnx_parameter_counts(model.path)
    if isinstance(model, OpenVinoTaskModel):
        return model.parameter_counts()
    tensors = [parameter.detach() for parameter in model.parameters()]
    for module in model.modules():
        # Dynamically quantised Linear layers keep packed int8 weights outside parameters().
        if callable(getattr(module, "weight", None)) and hasattr(module, "_packed_params"):
            tensors.append(module.weight().int_repr())
            if module.bias() is not None:
                tensors.append(module.bias().detach())
    total = sum(tensor.numel() for tensor in tensors)
    nonzero = sum(int(torch.count_nonzero(tensor)) for tensor in tensors)
    return {"parameters": total, "nonzero_parameters": nonzero}


def _onnx_parameter_counts(path: Path) -> dict[str, int]:
    import onnx
    from onnx import numpy_helper

    total = nonzero = 0
    for initializer in onnx.load(str(path)).graph.initializer:
        values = numpy_helper.to_array(initializer)
        # Scalars are quantisation scales/zero points and shape constants, not weights.
        if values.ndim == 0 or values.dtype.kind not in "fiu" or values.dtype == np.int64:
            continue
        if initializer.name.endswith(("_scale", "_zero_point")):
            continue
        total += values.size
        nonzero += int(np.count_nonzero(values))
    return {"parameters": total, "nonzero_parameters": nonzero}


def median_seconds(call: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``repeats`` calls after two untimed warm-up calls."""
    for _ in range(_WARMUP_PASSES):
        call()
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        timings.append(time.perf_counter() - start)
    return statistics.median(timings)


def latency_p50_ms(predictor: Predictor, records: list[Record], repeats: int) -> float:
    """Median time of one single-text request (batch 1) over ``records``, in milliseconds."""
    sample = records[: max(1, min(len(records), 16))]
    for record in sample[:_WARMUP_PASSES]:
        predictor.logits([record])
    timings = []
    for _ in range(repeats):
        for record in sample:
            start = time.perf_counter()
            predictor.logits([record])
            timings.append(time.perf_counter() - start)
    return statistics.median(timings) * 1000.0


def throughput_per_second(
    predictor: Predictor, records: list[Record], repeats: int, batch_size: int
) -> float:
    """Texts per second when ``records`` go through in batches of ``batch_size`` (median of
    ``repeats`` timed passes after warm-up)."""
    previous = predictor.batch_size
    predictor.batch_size = batch_size
    try:
        seconds = median_seconds(lambda: predictor.logits(records), repeats)
    finally:
        predictor.batch_size = previous
    return len(records) / seconds


def measure_predictor(
    predictor: Predictor,
    model_dir: Path,
    records: list[Record],
    repeats: int,
    batch_size: int = THROUGHPUT_BATCH_SIZE,
) -> dict[str, Any]:
    """Size, parameters, p50 latency (batch 1) and throughput (batch ``batch_size``)."""
    return {
        "size_bytes": weights_size_bytes(model_dir, predictor.model),
        **parameter_counts(predictor.model),
        "latency_p50_ms": latency_p50_ms(predictor, records, repeats),
        "throughput_per_s": throughput_per_second(predictor, records, repeats, batch_size),
        "throughput_batch_size": batch_size,
        "measured_examples": len(records),
        "threads": torch.get_num_threads(),
        "backend": _backend(predictor.model),
        "precision": predictor.precision,
    }


def _backend(model: torch.nn.Module | OnnxTaskModel | OpenVinoTaskModel) -> str:
    if isinstance(model, OnnxTaskModel):
        return "onnxruntime"
    return "openvino" if isinstance(model, OpenVinoTaskModel) else "torch"
