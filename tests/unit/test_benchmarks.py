"""The benchmark harness's own arithmetic, checked against independent references."""

from __future__ import annotations

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
