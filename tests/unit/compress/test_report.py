"""The sweep report: JSON, markdown and Pareto PNG hold the measured numbers."""

from __future__ import annotations

import json

from tuneforge.compress.methods import CompressOptions, SourceRun
from tuneforge.compress.report import pareto_front
from tuneforge.compress.sweep import write_sweep_report


def test_report_sweep_writes_table_plot_and_card_link(compressed_bbc, tmp_path) -> None:
    import shutil

    original = compressed_bbc["onnx"][0]
    # A copy: the shared run must stay as it is for other tests.
    run_dir = tmp_path / "run"
    shutil.copytree(original.run_dir, run_dir)
    variants = [original] + [pair[1] for pair in compressed_bbc.values()]
    report = write_sweep_report(
        SourceRun.open(run_dir), CompressOptions(), variants, {"distill": "not run"}
    )
    folder = run_dir / "compression"
    saved = json.loads((folder / "tradeoff.json").read_text())
    assert saved == json.loads(json.dumps(report))
    methods = [row["method"] for row in saved["rows"]]
    assert methods == ["original", "onnx", "onnx-int8-dynamic", "onnx-int8-static", "torch-int8"]
    for row in saved["rows"]:
        assert row["size_mb"] > 0 and row["throughput_per_s"] > 0 and row["latency_p50_ms"] > 0
    markdown = (folder / "tradeoff.md").read_text()
    assert f"{saved['rows'][2]['size_mb']:.1f}" in markdown and "distill: not run" in markdown
    assert (folder / "pareto.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "compression/tradeoff.md" in (run_dir / "model_card.md").read_text()
    assert pareto_front(saved["rows"])


def test_report_pareto_front_keeps_only_undominated_rows() -> None:
    rows = [
        {"method": "a", "value": 0.9, "throughput_per_s": 10.0},
        {"method": "b", "value": 0.8, "throughput_per_s": 30.0},
        {"method": "c", "value": 0.7, "throughput_per_s": 20.0},  # worse than b on both
        {"method": "d", "value": None, "throughput_per_s": 50.0},
    ]
    assert [row["method"] for row in pareto_front(rows)] == ["a", "b"]


def test_report_sweep_lists_a_refusing_method_and_goes_on(tmp_path_factory, tmp_path) -> None:
    import shutil

    from _configs import bbc_run

    from tuneforge.compress.sweep import sweep_run

    run_dir = tmp_path / "run"
    shutil.copytree(bbc_run(tmp_path_factory), run_dir)
    options = CompressOptions(measure_repeats=1, measure_examples=8)
    # The tiny teacher has one layer: no student can have fewer, so distill refuses.
    report = sweep_run(
        run_dir, options, ["distill", "torch-int8"], tmp_path / "out", show_progress=False
    )
    assert list(report["failed"]) == ["distill"] and "student_layers" in report["failed"]["distill"]
    assert [row["method"] for row in report["rows"]] == ["original", "torch-int8"]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["run-torch-int8"]
