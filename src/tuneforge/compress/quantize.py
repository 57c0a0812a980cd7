"""ONNX export and int8 quantization methods: onnx, onnx-int8-dynamic, onnx-int8-static,
torch-int8.

The ONNX methods write ``model/model.onnx`` (weights inside, one file) next to the tokenizer and a
``tuneforge.json`` with ``"backend": "onnxruntime"``, so ``load_predictor`` runs them with ONNX
Runtime and plain ``onnxruntime.InferenceSession`` loads them too.
"""

from __future__ import annotations

import contextlib
import contextvars
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tuneforge.compress.methods import (
    CompressionError,
    CompressOptions,
    SourceRun,
    evaluation_records,
    register_method,
)
from tuneforge.compress.onnx_export import (
    ONNX_FILE,
    check_parity,
    export_onnx,
    onnx_task_info,
    quiet_logger,
)
from tuneforge.inference import collate
from tuneforge.run.info import TORCH_INT8

# Batches of this many calibration texts: the calibrator keeps every activation of a batch in
# memory, and 8 x 128 tokens keeps that small while padding little within a batch.
_CALIBRATION_BATCH_SIZE = 8


def _test_texts(source: SourceRun, limit: int = 16) -> list[str]:
    """Real texts of the run's saved test split for the parity check."""
    return [record.text for record in evaluation_records(source.run_dir)[:limit]]


def _fuse_transformer_ops(path: Path, model: Any, destination: Path) -> dict[str, Any]:
    """Fuse LayerNorm/GELU/attention patterns with ONNX Runtime's transformer optimizer.

    The file keeps opset-level ops only where fusion fails; ORT applies its own graph
    optimisations again at load time, so opt_level=0 keeps the file portable across CPUs.
    Residual adds stay apart from their LayerNorm: see ``inference.UNFUSED_ORT_PATTERNS``.
    """
    from onnxruntime.transformers import optimizer
    from onnxruntime.transformers.fusion_options import FusionOptions

    config = model.config
    fusions = FusionOptions("bert")
    fusions.enable_skip_layer_norm = False
    try:
        with quiet_logger():  # ORT tools log advice on the root logger
            optimized = optimizer.optimize_model(
                str(path),
                model_type="bert",
                num_heads=getattr(config, "num_attention_heads", 0),
                hidden_size=getattr(config, "hidden_size", 0),
                optimization_options=fusions,
                opt_level=0,
            )
    except Exception as exc:  # an architecture the optimizer does not know: export stays valid
        return {"fusion": f"skipped ({type(exc).__name__}: {exc})"}
    optimized.save_model_to_file(str(destination))
    fused = {name: count for name, count in optimized.get_fused_operator_statistics().items()}
    return {"fusion": {name: count for name, count in fused.items() if count}}


# fp32 exports already made within a `shared_onnx_exports()` block: a sweep runs three ONNX
# methods on one model, and exporting a 6-layer model with its parity checks takes ~15 s each
# time. Held in a context variable, not a module global, so that nothing (least of all a temp
# folder) outlives the sweep that made it.
_EXPORTS: contextvars.ContextVar[tuple[Path, dict[tuple, tuple[Path, dict[str, Any]]]] | None] = (
    contextvars.ContextVar("tuneforge_onnx_exports", default=None)
)


@contextlib.contextmanager
def shared_onnx_exports() -> Iterator[None]:
    """Within the block, ONNX methods on the same weights and settings share one fp32 export;
    its temp folder is removed on exit."""
    with tempfile.TemporaryDirectory(prefix="tuneforge-onnx-") as folder:
        token = _EXPORTS.set((Path(folder), {}))
        try:
            yield
        finally:
            _EXPORTS.reset(token)


def _export_fp32(
    source: SourceRun, model: Any, folder: Path, options: CompressOptions
) -> tuple[Path, dict[str, Any]]:
    """The checked fp32 export (fused when asked) in ``folder``; inside `shared_onnx_exports`
    made once for the same weights and settings and copied."""
    shared = _EXPORTS.get()
    if shared is None:
        return _export_checked(source, model, folder, options)
    cache_dir, made = shared
    weights = sorted(source.model_dir.glob("*.safetensors"))
    key = (
        str(source.model_dir.resolve()),
        tuple((path.name, path.stat().st_mtime_ns, path.stat().st_size) for path in weights),
        options.optimize_graph,
        options.parity_tolerance,
    )
    if key not in made:
        cache = cache_dir / str(len(made))
        cache.mkdir()
        made[key] = _export_checked(source, model, cache, options)
    path, details = made[key]
    copied = folder / path.name
    shutil.copyfile(path, copied)
    return copied, dict(details)


def _export_checked(
    source: SourceRun, model: Any, folder: Path, options: CompressOptions
) -> tuple[Path, dict[str, Any]]:
    """Export and (optionally) fuse; every file written is checked against PyTorch."""
    texts = _test_texts(source)
    exported = folder / "exported.onnx"
    details = export_onnx(
        model,
        source.tokenizer,
        source.task_type,
        exported,
        source.max_seq_length,
        texts=texts,
        tolerance=options.parity_tolerance,
    )
    if not options.optimize_graph:
        return exported, details
    fused_path = folder / "fused.onnx"
    details.update(_fuse_transformer_ops(exported, model, fused_path))
    if not fused_path.is_file():
        return exported, details
    check = check_parity(
        model,
        source.tokenizer,
        source.task_type,
        fused_path,
        source.max_seq_length,
        texts,
        options.parity_tolerance,
    )
    details["max_abs_diff_fused"] = check["max_abs_diff"]
    return fused_path, details


@register_method("onnx")
def to_onnx(source: SourceRun, model_dir: Path, options: CompressOptions) -> dict[str, Any]:
    """fp32 ONNX export, checked against PyTorch, run by ONNX Runtime."""
    model = source.load_model()
    with tempfile.TemporaryDirectory() as scratch:
        exported, details = _export_fp32(source, model, Path(scratch), options)
        exported.replace(model_dir / ONNX_FILE)
    source.write_info(model_dir, **onnx_task_info(None))
    return details


@register_method("onnx-int8-dynamic")
def to_onnx_int8_dynamic(
    source: SourceRun, model_dir: Path, options: CompressOptions
) -> dict[str, Any]:
    """int8 weights, activations quantised per batch at run time (no calibration needed)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    model = source.load_model()
    with tempfile.TemporaryDirectory() as scratch:
        exported, details = _export_fp32(source, model, Path(scratch), options)
        with quiet_logger():  # ORT tools log advice on the root logger
            quantize_dynamic(
                exported,
                model_dir / ONNX_FILE,
                weight_type=QuantType.QInt8,
                per_channel=options.per_channel,
            )
    source.write_info(model_dir, **onnx_task_info("int8-dynamic"))
    return {**details, "weight_type": "int8", "per_channel": options.per_channel}


class _CalibrationReader:
    """Feeds padded batches of training features to onnxruntime's calibrator (the
    CalibrationDataReader protocol: get_next() -> dict or None, rewind())."""

    def __init__(self, features: list[dict[str, Any]], input_names: list[str], pad_id: int):
        self.batches = []
        for start in range(0, len(features), _CALIBRATION_BATCH_SIZE):
            batch = collate(features[start : start + _CALIBRATION_BATCH_SIZE], pad_id)
            self.batches.append({name: batch[name].numpy() for name in input_names})
        self.position = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self.position >= len(self.batches):
            return None
        self.position += 1
        return self.batches[self.position - 1]

    def rewind(self) -> None:
        self.position = 0


def calibration_features(
    source: SourceRun, calibration_size: int, method: str = "onnx-int8-static"
) -> list[dict[str, Any]]:
    """``calibration_size`` encoded training examples spread over the split (labels dropped).

    Raises:
        CompressionError: the training split is empty or smaller than ``calibration_size``.
    """
    train = source.features("train")
    if len(train) < calibration_size:
        raise CompressionError(
            f"{method} calibrates on {calibration_size} training texts, but the training "
            f"split of {source.run_dir} has {len(train)} (data.source: "
            f"{source.config.data.source}). Lower calibration_size (--set calibration_size="
            f"{max(len(train), 1)}) or use onnx-int8-dynamic, which needs no calibration data."
        )
    # A spread of the split, not its first rows: the split order can follow the source file.
    step = len(train) / calibration_size
    chosen = [train[int(index * step)] for index in range(calibration_size)]
    return [{key: value for key, value in row.items() if key != "labels"} for row in chosen]


@register_method("onnx-int8-static")
def to_onnx_int8_static(
    source: SourceRun, model_dir: Path, options: CompressOptions
) -> dict[str, Any]:
    """int8 weights and activations, activation ranges fixed on training texts (MinMax)."""
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    features = calibration_features(source, options.calibration_size)
    model = source.load_model()
    with tempfile.TemporaryDirectory() as scratch:
        exported, details = _export_fp32(source, model, Path(scratch), options)
        input_names = [
            node.name for node in onnx.load(str(exported), load_external_data=False).graph.input
        ]
        reader = _CalibrationReader(features, input_names, source.tokenizer.pad_token_id or 0)
        with quiet_logger():  # ORT tools log advice on the root logger
            quantize_static(
                exported,
                model_dir / ONNX_FILE,
                reader,
                quant_format=QuantFormat.QDQ,
                # Only weight matrix products (and the embedding table): quantising the
                # activation x activation products of attention and the softmax/LayerNorm
                # inputs adds quantise/dequantise work and rounding for no saving on CPU.
                op_types_to_quantize=["MatMul", "Gemm", "Gather"],
                extra_options={"MatMulConstBOnly": True},
                per_channel=options.per_channel,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                calibrate_method=CalibrationMethod.MinMax,
            )
    source.write_info(model_dir, **onnx_task_info("int8-static"))
    return {
        **details,
        "calibration_examples": len(features),
        "calibration_split": "train",
        "per_channel": options.per_channel,
    }


@register_method("torch-int8")
def to_torch_int8(source: SourceRun, model_dir: Path, options: CompressOptions) -> dict[str, Any]:
    """PyTorch dynamic int8 on Linear layers at load time; the folder keeps fp32 safetensors
    (torch cannot save quantised modules without pickle, which the registry refuses)."""
    model = source.load_model()
    linear_layers = sum(isinstance(module, torch.nn.Linear) for module in model.modules())
    source.save_torch_model(model, model_dir, quantization=TORCH_INT8, precision="fp32")
    return {
        "quantized_linear_layers": linear_layers,
        "quantized_at": "load time (torch.ao.quantization.quantize_dynamic, qint8)",
    }
