"""`tuneforge compress` end to end through the installed command: a compressed run folder that
`evaluate`, `predict` and `registry push` accept, the sweep report, and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _configs import bbc_run, run_cli

pytestmark = pytest.mark.integration

FAST = ["--set", "measure_repeats=1", "--set", "measure_examples=8", "--set", "calibration_size=16"]


def test_compress_cli_run_folder_works_with_every_command(tmp_path_factory, tmp_path: Path) -> None:
    run_dir = bbc_run(tmp_path_factory)
    output = tmp_path / "int8"

    result = run_cli(
        "compress",
        str(run_dir),
        "--method",
        "onnx-int8-dynamic",
        "--output",
        str(output),
        *FAST,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    assert "onnx-int8-dynamic" in result.stderr and f"saved to {output}" in result.stderr
    info = json.loads((output / "model" / "tuneforge.json").read_text())
    assert info["backend"] == "onnxruntime" and (output / "model" / info["onnx_file"]).is_file()

    evaluated = run_cli("evaluate", str(output), cwd=tmp_path)
    assert evaluated.returncode == 0, evaluated.stderr
    scored = json.loads((output / "evaluation_test.json").read_text())
    saved = json.loads((output / "metrics.json").read_text())["test"]
    assert scored["macro_f1"] == pytest.approx(saved["macro_f1"])

    predicted = run_cli(
        "predict", str(output), "--text", "Shares in the bank rose 5%.", cwd=tmp_path
    )
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)[0]["label"] in info["label_names"]

    pushed = run_cli(
        "registry",
        "push",
        str(output),
        "--name",
        "news-int8",
        "--registry",
        str(tmp_path / "reg"),
        cwd=tmp_path,
    )
    assert pushed.returncode == 0, pushed.stderr

    again = run_cli(
        "compress",
        str(run_dir),
        "--method",
        "onnx-int8-dynamic",
        "--output",
        str(output),
        cwd=tmp_path,
    )
    assert again.returncode == 2 and "already exists" in again.stderr


def test_compress_cli_sweep_writes_the_report(tmp_path_factory, tmp_path: Path) -> None:
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(bbc_run(tmp_path_factory), run_dir)

    result = run_cli(
        "compress",
        str(run_dir),
        "--sweep",
        "--skip-training",
        "--output",
        str(tmp_path / "out"),
        *FAST,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    report = json.loads((run_dir / "compression" / "tradeoff.json").read_text())
    assert [row["method"] for row in report["rows"]] == [
        "original",
        "onnx",
        "onnx-int8-dynamic",
        "onnx-int8-static",
        "torch-int8",
        "openvino",
        "openvino-int8",
    ]
    assert (run_dir / "compression" / "pareto.png").stat().st_size > 10_000
    assert "## Compression" in (run_dir / "model_card.md").read_text()
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        "run-onnx",
        "run-onnx-int8-dynamic",
        "run-onnx-int8-static",
        "run-openvino",
        "run-openvino-int8",
        "run-torch-int8",
    ]


def test_compress_cli_bad_requests_exit_2_with_a_reason(tmp_path_factory, tmp_path: Path) -> None:
    run_dir = str(bbc_run(tmp_path_factory))
    cases = {
        ("--method", "onnx-int4"): "Unknown compression method",
        ("--method", "onnx", "--sweep"): "either --method NAME or --sweep",
        ("--method", "onnx-int8-static", "--set", "calibration_size=100000"): "calibration_size",
        ("--method", "onnx", "--set", "sparsty=0.5"): "did you mean sparsity",
    }
    for arguments, message in cases.items():
        result = run_cli(
            "compress", run_dir, *arguments, "--output", str(tmp_path / "x"), cwd=tmp_path
        )
        assert result.returncode == 2, (arguments, result.stderr)
        assert message in result.stderr, (arguments, result.stderr)
        assert not (tmp_path / "x").exists()
    prefix = run_cli(
        "compress", str(bbc_run(tmp_path_factory, "prefix")), "--method", "onnx", cwd=tmp_path
    )
    assert prefix.returncode == 2 and "cannot be merged" in prefix.stderr
