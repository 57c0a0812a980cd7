"""OpenVINO methods: openvino (fp32 IR) and openvino-int8 (NNCF post-training quantisation).

Both convert the run's PyTorch model with ``openvino.convert_model`` (optimum-intel would pull a
CUDA torch and transformers 5.x, so it is not used), check the fp32 IR's logits against PyTorch
like the ONNX export, and write ``model/openvino_model.xml`` + ``openvino_model.weights`` with a
``tuneforge.json`` whose ``"backend": "openvino"`` makes ``load_predictor`` run them.
"""

from __future__ import annotations

import contextlib
import io
import logging
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tuneforge.compress.methods import (
    CompressionError,
    CompressOptions,
    SourceRun,
    register_method,
)
from tuneforge.compress.onnx_export import (
    example_inputs,
    max_logit_difference,
    model_input_names,
    quiet_logger,
)
from tuneforge.compress.quantize import _test_texts, calibration_features
from tuneforge.inference import collate
from tuneforge.openvino_runtime import (
    OPENVINO_WEIGHTS,
    OPENVINO_XML,
    OpenVinoTaskModel,
    default_precision,
    require_openvino,
    signal_stack_kept,
    telemetry_off,
)

NNCF_INT8 = "int8-static-nncf"
"""``quantization`` of an openvino-int8 model: NNCF post-training int8, activations calibrated."""
# Timed passes per precision when `openvino_precision: auto` picks bf16 or f32 on a bf16 CPU.
_PRECISION_TIMING_REPEATS = 3


def openvino_task_info(precision: str, quantization: str | None = None) -> dict[str, Any]:
    """The ``tuneforge.json`` keys that make ``load_predictor`` compile the IR with OpenVINO."""
    return {
        "backend": "openvino",
        "saved_as": "openvino",
        "openvino_file": OPENVINO_XML,
        "openvino_precision": precision,
        "quantization": quantization,
    }


def convert_to_openvino(model: torch.nn.Module, tokenizer: Any, max_seq_length: int) -> Any:
    """The fp32 ov.Model of a transformers task model, batch and sequence left dynamic.

    Raises:
        CompressionError: the conversion fails.
    """
    ov = require_openvino()
    model = model.float().eval()
    input_names = model_input_names(model, tokenizer)
    example = example_inputs(tokenizer, max_seq_length)
    try:
        # The PyTorch frontend traces with TorchScript and warns about every traced branch.
        with (
            warnings.catch_warnings(),
            contextlib.redirect_stdout(io.StringIO()),
            quiet_logger(),
            torch.inference_mode(False),
            telemetry_off(),
        ):
            warnings.simplefilter("ignore")
            converted = ov.convert_model(
                model,
                example_input={name: example[name] for name in input_names},
                # [batch, sequence], both dynamic (-1), int64 as the tokenizer gives them.
                input=[(name, ov.PartialShape([-1, -1]), ov.Type.i64) for name in input_names],
            )
    except Exception as exc:  # the frontend raises many internal error types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CompressionError(
            f"openvino.convert_model could not convert the {type(model).__name__} model: {first}"
        ) from exc
    # Name the first output as ONNX and the tests expect; the logits are output 0 either way.
    converted.outputs[0].get_tensor().set_names({"logits"})
    return converted


def save_ir(ov_model: Any, model_dir: Path) -> None:
    """Write the IR as OPENVINO_XML + OPENVINO_WEIGHTS (fp32 weights kept as they are)."""
    ov = require_openvino()
    xml = model_dir / OPENVINO_XML
    # compress_to_fp16 defaults to True, which would halve the weights' precision on disk.
    ov.save_model(ov_model, str(xml), compress_to_fp16=False)
    xml.with_suffix(".bin").rename(model_dir / OPENVINO_WEIGHTS)


def check_openvino_parity(
    source: SourceRun, torch_model: torch.nn.Module, model_dir: Path, tolerance: float
) -> dict[str, Any]:
    """Compare the saved IR (compiled at f32) with PyTorch fp32 exactly as the ONNX export is.

    Raises:
        CompressionError: the logits differ by more than ``tolerance`` (the IR is removed).
    """
    compiled = OpenVinoTaskModel(model_dir, precision="f32")
    request = compiled.compiled.create_infer_request()
    worst, shapes = max_logit_difference(
        torch_model,
        source.tokenizer,
        compiled.input_names,
        lambda feed: request.infer(feed)[0],
        source.max_seq_length,
        _test_texts(source),
    )
    if worst > tolerance:
        for name in (OPENVINO_XML, OPENVINO_WEIGHTS):
            (model_dir / name).unlink(missing_ok=True)
        raise CompressionError(
            f"The OpenVINO model's logits differ from PyTorch by up to {worst:.2e} (tolerance "
            f"{tolerance:.0e}); the conversion is not trustworthy and was removed."
        )
    return {"max_abs_diff": worst, "checked_shapes": shapes}


def choose_precision(
    model_dir: Path,
    features: list[dict[str, Any]],
    requested: str,
    pad_token_id: int,
    threads: int | None = None,
) -> dict[str, Any]:
    """The inference precision to record: ``requested``, or under "auto" bf16 only where the CPU
    computes bf16 natively and a timed batch runs faster in it than in f32.

    Returns:
        {"openvino_precision": "f32"|"bf16", "precision_timing_ms": {...} (auto on bf16 CPUs)}.
    """
    if requested != "auto":
        return {"openvino_precision": requested}
    if default_precision() == "f32":
        return {"openvino_precision": "f32"}
    timings = {}
    for precision in ("f32", "bf16"):
        model = OpenVinoTaskModel(model_dir, precision, threads)
        model.forward_logits(features, len(features), pad_token_id)  # compile-time warm-up
        seconds = []
        for _ in range(_PRECISION_TIMING_REPEATS):
            start = time.perf_counter()
            model.forward_logits(features, len(features), pad_token_id)
            seconds.append(time.perf_counter() - start)
        timings[precision] = round(statistics.median(seconds) * 1000, 2)
    faster = "bf16" if timings["bf16"] < timings["f32"] else "f32"
    return {"openvino_precision": faster, "precision_timing_ms": timings}


def _timing_features(source: SourceRun, count: int = 32) -> list[dict[str, Any]]:
    """Up to ``count`` encoded test texts (labels dropped): one batch as served."""
    from tuneforge.compress.methods import evaluation_records
    from tuneforge.tasks._windows import encode_for_model

    records = evaluation_records(source.run_dir)[:count]
    features = encode_for_model(
        source.task,
        records,
        source.tokenizer,
        source.label_names,
        source.max_seq_length,
        source.info.metadata,
        source.info.long_text,
    )
    return [{key: value for key, value in row.items() if key != "labels"} for row in features]


def _convert_checked(
    source: SourceRun, model_dir: Path, options: CompressOptions
) -> tuple[Any, dict[str, Any]]:
    torch_model = source.load_model()
    ov_model = convert_to_openvino(torch_model, source.tokenizer, source.max_seq_length)
    save_ir(ov_model, model_dir)
    details = check_openvino_parity(source, torch_model, model_dir, options.parity_tolerance)
    ov = require_openvino()
    return ov_model, {**details, "converter": f"openvino.convert_model ({ov.__version__})"}


def _choose_precision(
    source: SourceRun, model_dir: Path, options: CompressOptions
) -> dict[str, Any]:
    return choose_precision(
        model_dir,
        _timing_features(source),
        options.openvino_precision,
        source.tokenizer.pad_token_id or 0,
        options.measure_threads,
    )


@register_method("openvino")
@signal_stack_kept()  # the parity check and timing compile models (see signal_stack_kept)
def to_openvino(source: SourceRun, model_dir: Path, options: CompressOptions) -> dict[str, Any]:
    """fp32 OpenVINO IR; inference precision f32, or bf16 where the CPU has it and it is faster."""
    _, details = _convert_checked(source, model_dir, options)
    chosen = _choose_precision(source, model_dir, options)
    source.write_info(model_dir, **openvino_task_info(chosen["openvino_precision"]))
    return {**details, **chosen}


class _Quieter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR


@register_method("openvino-int8")
@signal_stack_kept()  # NNCF compiles models of its own for calibration (see signal_stack_kept)
def to_openvino_int8(
    source: SourceRun, model_dir: Path, options: CompressOptions
) -> dict[str, Any]:
    """NNCF post-training int8 of the converted model: weights and activations of the matrix
    products, activation ranges calibrated on training texts (transformer preset)."""
    features = calibration_features(source, options.calibration_size, method="openvino-int8")
    ov_model, details = _convert_checked(source, model_dir, options)
    try:
        with telemetry_off():  # NNCF sets up its telemetry when imported
            import nncf
    except ImportError as exc:
        raise CompressionError(
            "openvino-int8 quantises with NNCF: pip install 'tuneforge[openvino]'."
        ) from exc
    pad_token_id = source.tokenizer.pad_token_id or 0
    input_names = [port.get_any_name() for port in ov_model.inputs]
    # One text per calibration item, unpadded: padding would enter the activation ranges.
    items = [collate([feature], pad_token_id) for feature in features]
    dataset = nncf.Dataset(items, lambda batch: {name: batch[name].numpy() for name in input_names})
    nncf_logger = logging.getLogger("nncf")
    quiet = _Quieter()
    nncf_logger.addFilter(quiet)  # NNCF logs its progress bars and statistics at INFO
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), telemetry_off():
            warnings.simplefilter("ignore")
            quantized = nncf.quantize(
                ov_model,
                dataset,
                # MIXED: symmetric weights, asymmetric activations (GELU outputs are not centred).
                preset=nncf.QuantizationPreset.MIXED,
                # TRANSFORMER keeps LayerNorm/softmax inputs in float (NNCF's transformer scheme).
                model_type=nncf.ModelType.TRANSFORMER,
                subset_size=len(items),
            )
    finally:
        nncf_logger.removeFilter(quiet)
    for name in (OPENVINO_XML, OPENVINO_WEIGHTS):
        (model_dir / name).unlink()
    save_ir(quantized, model_dir)
    chosen = _choose_precision(source, model_dir, options)
    source.write_info(model_dir, **openvino_task_info(chosen["openvino_precision"], NNCF_INT8))
    quantized_ops = sum(op.get_type_name() == "FakeQuantize" for op in quantized.get_ordered_ops())
    return {
        **details,
        **chosen,
        "nncf": nncf.__version__,
        "calibration_examples": len(items),
        "calibration_split": "train",
        "fake_quantize_ops": quantized_ops,
        "int8_vs_fp32_max_abs_diff": _int8_difference(model_dir, ov_model, source, pad_token_id),
    }


def _int8_difference(
    model_dir: Path, fp32_model: Any, source: SourceRun, pad_token_id: int
) -> float:
    """Largest |logit difference| of the int8 IR from the fp32 IR on the test batch (reported,
    not checked: int8 rounding is the trade-off the report's metric column measures)."""
    ov = require_openvino()
    features = _timing_features(source)
    int8_rows = OpenVinoTaskModel(model_dir, "f32").forward_logits(features, 8, pad_token_id)
    compiled = ov.Core().compile_model(fp32_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    request = compiled.create_infer_request()
    worst = 0.0
    for feature, row in zip(features, int8_rows, strict=True):
        batch = collate([feature], pad_token_id)
        feed = {port.get_any_name(): batch[port.get_any_name()].numpy() for port in compiled.inputs}
        reference = np.asarray(request.infer(feed)[0])[0]
        worst = max(worst, float(np.abs(reference[: len(row)] - row).max()))
    return worst
