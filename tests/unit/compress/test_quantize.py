"""int8 methods end to end on the tiny BBC run: smaller files, same answers on most texts,
clear errors, and run folders that evaluate and predict like any other run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from _configs import bbc_run

from tuneforge.compress.methods import CompressionError, CompressOptions, evaluation_records
from tuneforge.compress.run import compress_run
from tuneforge.predict import load_predictor
from tuneforge.run.evaluation import evaluate_run


def _logits(run_dir: Path, records: list) -> np.ndarray:
    return load_predictor(run_dir).logits(records)[0]


def test_quantize_int8_onnx_files_are_smaller_and_close_to_fp32(compressed_bbc) -> None:
    original, _ = compressed_bbc["onnx"]
    records = evaluation_records(original.run_dir)
    reference = _logits(original.run_dir, records)
    for method in ("onnx-int8-dynamic", "onnx-int8-static"):
        _, variant = compressed_bbc[method]
        # int8 weights: a quarter of fp32 plus scales (the embedding table is quantised too).
        assert variant.measurements["size_bytes"] < 0.35 * original.measurements["size_bytes"]
        quantized = _logits(variant.run_dir, records)
        # The 5-step tiny model gives nearly the same logits to every text (top-2 margins
        # ~0.002), so its labels say nothing; int8 rounding must stay a small fraction of the
        # logits instead (measured: ~4% dynamic and static). Label agreement on a trained model
        # is measured by benchmarks/compress_tradeoff.py on the real BBC run.
        relative_error = np.abs(quantized - reference).max() / np.abs(reference).max()
        assert relative_error < 0.15, (method, relative_error)
        agree = quantized.argmax(1) == reference.argmax(1)
        margin = np.sort(reference, 1)[:, -1] - np.sort(reference, 1)[:, -2]
        clear = margin > 2 * np.abs(quantized - reference).max()
        assert agree[clear].all()


def test_quantize_torch_int8_quantises_linear_layers_at_load_time(compressed_bbc) -> None:
    _, variant = compressed_bbc["torch-int8"]
    info = json.loads((variant.run_dir / "model" / "tuneforge.json").read_text())
    assert info["quantization"] == "torch-int8-dynamic"
    model = load_predictor(variant.run_dir).model
    quantized = [m for m in model.modules() if isinstance(m, torch.ao.nn.quantized.dynamic.Linear)]
    # One layer: query, key, value, attention output, intermediate, output, pooler, classifier.
    assert len(quantized) == 8
    assert not any(type(module) is torch.nn.Linear for module in model.modules())
    assert not list(variant.run_dir.rglob("*.bin")) and list(variant.run_dir.rglob("*.safetensors"))


def test_quantize_compressed_run_is_scored_like_the_original(compressed_bbc) -> None:
    original, variant = compressed_bbc["onnx-int8-dynamic"]
    metrics = evaluate_run(variant.run_dir)
    saved = json.loads((variant.run_dir / "metrics.json").read_text())
    assert metrics["macro_f1"] == pytest.approx(saved["test"]["macro_f1"])
    assert metrics["num_examples"] == original.metrics["num_examples"]
    report = json.loads((variant.run_dir / "compression.json").read_text())
    assert report["method"] == "onnx-int8-dynamic"
    assert report["size_ratio"] < 0.35
    assert (
        report["compressed"]["latency_p50_ms"] > 0 and report["compressed"]["throughput_per_s"] > 0
    )
    assert report["details"]["max_abs_diff"] < 1e-3
    card = (variant.run_dir / "model_card.md").read_text()
    assert "| onnx-int8-dynamic |" in card and "| original |" in card


def test_quantize_static_without_enough_calibration_data_fails_cleanly(
    tmp_path_factory, tmp_path: Path
) -> None:
    output = tmp_path / "static"
    with pytest.raises(CompressionError, match="calibration_size"):
        compress_run(
            bbc_run(tmp_path_factory),
            "onnx-int8-static",
            CompressOptions(calibration_size=100_000),
            output,
        )
    # Atomic: no run folder, and no staging folder, is left behind.
    assert list(tmp_path.iterdir()) == []


def test_onnx_files_keep_residual_adds_apart_from_layer_norm(
    compressed_bbc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SkipLayerNormalization is slower than Add + LayerNormalization in ONNX Runtime's CPU
    kernels: neither the written file nor the session built to run it fuses them."""
    import onnx
    import onnxruntime

    from tuneforge.inference import UNFUSED_ORT_PATTERNS, onnx_session

    for method in ("onnx", "onnx-int8-dynamic"):
        _, variant = compressed_bbc[method]
        path = variant.run_dir / "model" / "model.onnx"
        ops = {node.op_type for node in onnx.load(str(path)).graph.node}
        assert "LayerNormalization" in ops and "SkipLayerNormalization" not in ops, method

    def optimized_ops(disabled: list[str]) -> set[str]:
        options = onnxruntime.SessionOptions()
        options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.optimized_model_filepath = str(tmp_path / f"optimized{len(disabled)}.onnx")
        onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled
        )
        return {node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node}

    # ONNX Runtime fuses them at load time unless told not to (an unknown name is ignored, so
    # this also proves the names are ONNX Runtime's own).
    assert "SkipLayerNormalization" in optimized_ops([])
    assert "SkipLayerNormalization" not in optimized_ops(list(UNFUSED_ORT_PATTERNS))

    seen: dict[str, object] = {}
    real_session = onnxruntime.InferenceSession

    def recording_session(*args: object, **kwargs: object) -> object:
        seen.update(kwargs)
        return real_session(*args, **kwargs)

    monkeypatch.setattr(onnxruntime, "InferenceSession", recording_session)
    onnx_session(path)
    assert seen["disabled_optimizers"] == list(UNFUSED_ORT_PATTERNS)
