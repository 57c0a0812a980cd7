"""The benchmark harness's own arithmetic, checked against independent references."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from benchmarks._harness import markdown_table, measure_matmul_peak, median_by_contender
from benchmarks.train_speed import training_flops


def test_train_speed_flop_formula_matches_torch_flop_counter(minilm_path) -> None:
    """6·N·L + 12·layers·d·L² against torch's own count of one forward+backward pass."""
    from torch.utils.flop_counter import FlopCounterMode

    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_path, num_hidden_layers=2, num_labels=5
    )
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    batch = tokenizer(["the quick brown fox jumps over the lazy dog " * 6], return_tensors="pt")
    batch["labels"] = torch.tensor([1])
    length = batch["input_ids"].shape[1]
    counter = FlopCounterMode(display=False)
    with counter:
        model(**batch).loss.backward()
    measured = counter.get_total_flops()
    estimated = training_flops([length], model)
    # The formula ignores softmax/LayerNorm/GELU (not matmuls) and the counter ignores the
    # embedding lookup; the matmul work they both count must agree closely.
    assert abs(estimated - measured) / measured < 0.03  # measured: 2.7% over


def test_harness_medians_are_per_contender() -> None:
    rows = [
        {"contender": "a", "samples_per_second": value, "peak_rss_mib": 10.0}
        for value in (1.0, 3.0, 2.0)
    ] + [{"contender": "b", "samples_per_second": 5.0, "peak_rss_mib": 20.0}]
    medians = median_by_contender(rows)
    assert medians["a"]["samples_per_second"] == 2.0
    assert medians["a"]["repeats"] == 3
    assert medians["b"] == {"samples_per_second": 5.0, "peak_rss_mib": 20.0, "repeats": 1}


def test_harness_markdown_table_formats_numbers() -> None:
    table = markdown_table(["name", "x"], [["a", 1.23456], ["b", 123.456]])
    assert table.splitlines() == ["| name | x |", "|---|---|", "| a | 1.235 |", "| b | 123.5 |"]


def test_harness_medians_keep_labels_all_repeats_agree_on() -> None:
    rows = [
        {"contender": "a", "precision": "bf16", "kernel": kernel, "samples_per_second": 1.0}
        for kernel in ("x", "y")
    ]
    medians = median_by_contender(rows)
    assert medians["a"]["precision"] == "bf16"
    assert "kernel" not in medians["a"]  # differs between repeats: no single label to report


def test_layer_shaped_gemm_ceiling_is_reported_per_precision() -> None:
    peaks = measure_matmul_peak(1, size=64, seconds=0.05, model_shape=(32, 16, 64))
    assert set(peaks) == {"fp32_gflops", "bf16_gflops", "fp32_model_gflops", "bf16_model_gflops"}
    assert all(value > 0 for value in peaks.values())


def test_weight_gemm_flops_plus_attention_and_head_match_torch_flop_counter(minilm_path) -> None:
    """The inference ceiling's FLOPs per text: torch's count of one forward pass is the weight
    products plus attention (QK^T and AV: 4·d·L² per layer) plus pooler and classifier."""
    from torch.utils.flop_counter import FlopCounterMode

    from benchmarks._harness import weight_gemm_flops

    # Eager attention: the counter sees its two matmuls (it counts nothing for CPU SDPA).
    model = AutoModelForSequenceClassification.from_pretrained(
        minilm_path, num_hidden_layers=2, num_labels=5, attn_implementation="eager"
    )
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    batch = tokenizer(["the quick brown fox jumps over the lazy dog " * 4], return_tensors="pt")
    length = batch["input_ids"].shape[1]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(**batch)
    config = model.config
    hidden, intermediate = config.hidden_size, config.intermediate_size
    weights = weight_gemm_flops([length], hidden, intermediate, layers=2)
    attention = 2 * 4 * hidden * length * length
    head = 2 * hidden * hidden + 2 * hidden * 5
    assert weights + attention + head == counter.get_total_flops()


def test_int8_gemm_peak_runs_onnxruntime_dynamic_quantized_matmul() -> None:
    from benchmarks._harness import measure_int8_gemm_peak

    assert measure_int8_gemm_peak(1, [(32, 16, 64), (32, 64, 16)], seconds=0.05) > 0


def test_inference_ceilings_divide_each_precision_rate_by_flops_per_text(
    minilm_path, monkeypatch
) -> None:
    from benchmarks import _harness

    monkeypatch.setattr(
        _harness,
        "measure_matmul_peak",
        lambda threads, model_shape: {
            "fp32_gflops": 90.0,
            "fp32_model_gflops": 100.0,  # the better of the two is the ceiling
            "bf16_gflops": 50.0,
            "bf16_model_gflops": 5.0,
        },
    )
    monkeypatch.setattr(
        _harness,
        "measure_int8_gemm_peak",
        lambda threads, shapes: 300.0 if len(shapes) == 6 else 200.0,  # layer chain vs square
    )
    texts = ["shares rose", "the bank held rates " * 20]

    ceilings = _harness.inference_ceilings(Path(minilm_path), texts, max_length=16, threads=1)

    # 4 + 16 tokens (with [CLS]/[SEP], the long text truncated); 6 layers of 384/1536.
    per_token = 2 * (4 * 384 * 384 + 2 * 384 * 1536) * 6
    per_text = per_token * (4 + 16) / 2
    assert ceilings["weight_gflop_per_text"] == pytest.approx(per_text / 1e9)
    assert ceilings["fp32_ceiling_per_s"] == pytest.approx(100e9 / per_text)
    assert ceilings["bf16_ceiling_per_s"] == pytest.approx(50e9 / per_text)
    assert ceilings["int8_ceiling_per_s"] == pytest.approx(3 * ceilings["fp32_ceiling_per_s"])
    assert ceilings["layer_gemm_tokens"] == 32 * 10
    lines = _harness.ceiling_lines(ceilings, ceilings["fp32_ceiling_per_s"] / 2, "pipeline")
    assert "fp32: 100.0 GFLOP/s" in lines and "= 2.00x pipeline" in lines
    assert "int8: 300.0 GOP/s" in lines and "= 6.00x pipeline" in lines


def test_compress_targets_report_met_missed_and_the_int8_ceiling() -> None:
    from benchmarks.compress_tradeoff import check_targets

    def row(method: str, change: float, size: float, per_s: float) -> dict:
        return {
            "method": method,
            "change_points": change,
            "size_ratio": size,
            "throughput_per_s": per_s,
        }

    rows = [
        row("original", 0.0, 1.0, 50.0),
        row("onnx-int8-dynamic", -0.2, 0.26, 80.0),  # 2x the pipeline: below the 3x floor
        row("distill", -1.0, 0.77, 95.0),  # 1.9x the original: meets 1.8x
        row("distill+openvino-int8", -1.2, 0.13, 210.0),  # 5.25x the pipeline: meets 5x
    ]
    checks = {c["method"]: c for c in check_targets(rows, 40.0, {"int8_ceiling_per_s": 100.0})}

    assert checks["onnx-int8-dynamic"]["met"] is False
    assert checks["onnx-int8-dynamic"]["speedup_vs_pipeline"] == pytest.approx(2.0)
    assert checks["onnx-int8-dynamic"]["ceiling_speedup"] == pytest.approx(2.5)
    assert checks["distill"]["met"] is True and "ceiling_speedup" not in checks["distill"]
    assert checks["distill+openvino-int8"]["met"] is True
    assert checks["distill+openvino-int8"]["speedup_vs_pipeline"] == pytest.approx(5.25)
    assert checks["openvino-int8"] == {"method": "openvino-int8", "measured": False}


def test_compress_timing_in_children_takes_medians_and_keeps_the_sweep_figures(
    monkeypatch,
) -> None:
    from benchmarks import _harness, compress_tradeoff

    measured = {  # three rounds of child results per model
        "/runs/a": [10.0, 30.0, 20.0],
        "/runs/a-int8": [50.0, 40.0, 60.0],
        "pipeline": [25.0, 25.0, 25.0],
    }
    calls = []

    def fake_child(module: str, args: list[str]) -> dict:
        target = args[args.index("--time-worker") + 1]
        calls.append(target)
        per_s = measured[target][sum(call == target for call in calls) - 1]
        return {"throughput_per_s": per_s, "latency_p50_ms": 1000 / per_s, "peak_rss_mib": 1.0}

    monkeypatch.setattr(_harness, "run_child", fake_child)
    rows = [
        {"run_dir": "/runs/a", "throughput_per_s": 9.0, "latency_p50_ms": 99.0},
        {"run_dir": "/runs/a-int8", "throughput_per_s": 33.0, "latency_p50_ms": 44.0},
    ]

    pipeline = compress_tradeoff.time_rows_in_children(rows, Path("/runs/a"), 3, 16, 1, 2)

    assert calls == ["/runs/a", "/runs/a-int8", "pipeline"] * 3  # alternating rounds
    assert pipeline == 25.0
    assert [row["throughput_per_s"] for row in rows] == [20.0, 50.0]
    assert [row["sweep_throughput_per_s"] for row in rows] == [9.0, 33.0]
    assert [row["speedup"] for row in rows] == [1.0, 2.5]
    assert rows[1]["latency_p50_ms"] == pytest.approx(20.0)  # median of 20, 25, 16.7


def test_benchmarks_import_only_names_tuneforge_has() -> None:
    """Benchmarks import tuneforge inside their workers, where a renamed function only fails when
    the benchmark is run (train_speed and predict_speed imported pipeline.set_threads for a week
    after it moved). Every `from tuneforge... import name` in benchmarks/ must resolve."""
    import ast
    import importlib

    missing = []
    for path in sorted(Path(__file__).parents[2].joinpath("benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (
                isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tuneforge")
            ):
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                if hasattr(module, alias.name):
                    continue
                try:
                    importlib.import_module(f"{node.module}.{alias.name}")
                except ImportError:
                    missing.append(f"{path.name}:{node.lineno}: {node.module}.{alias.name}")
    assert missing == []
