"""OpenVINO methods on the tiny BBC run: parity with PyTorch, the predictor backend chosen from
tuneforge.json, registry push and serving of the compressed run, and clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _configs import BBC_TOPICS, assert_user_error, bbc_run, invoke
from fastapi.testclient import TestClient

from tuneforge.compress.methods import CompressionError, CompressOptions, evaluation_records
from tuneforge.compress.run import Variant, compress_run
from tuneforge.openvino_runtime import OPENVINO_WEIGHTS, OPENVINO_XML, OpenVinoTaskModel
from tuneforge.predict import load_predictor

pytest.importorskip("openvino", reason="the openvino extra is not installed")
pytest.importorskip("nncf", reason="the openvino extra is not installed")

FAST = CompressOptions(calibration_size=32, measure_repeats=1, measure_examples=8)
METHODS = ("openvino", "openvino-int8")


@pytest.fixture(scope="module")
def compressed(tmp_path_factory) -> dict[str, tuple[Variant, Variant]]:
    run_dir = bbc_run(tmp_path_factory)
    output = tmp_path_factory.mktemp("openvino")
    results: dict[str, tuple[Variant, Variant]] = {}
    original = None
    for method in METHODS:
        results[method] = compress_run(run_dir, method, FAST, output / method, original=original)
        original = results[method][0]
    return results


def test_openvino_fp32_ir_matches_pytorch_within_the_parity_tolerance(compressed) -> None:
    _, variant = compressed["openvino"]
    report = json.loads((variant.run_dir / "compression.json").read_text())
    assert report["details"]["max_abs_diff"] < FAST.parity_tolerance
    # Batches of 1, 2 and 7 texts at several lengths: batch and sequence stayed dynamic.
    assert {shape[0] for shape in report["details"]["checked_shapes"]} == {1, 2, 7}
    model = variant.run_dir / "model"
    assert (model / OPENVINO_XML).is_file() and (model / OPENVINO_WEIGHTS).is_file()
    assert not list(variant.run_dir.rglob("*.bin"))  # the registry refuses *.bin as pickle
    info = json.loads((model / "tuneforge.json").read_text())
    assert info["backend"] == "openvino" and info["openvino_precision"] in ("f32", "bf16")


def test_openvino_predictor_backend_predicts_like_pytorch(compressed) -> None:
    original, variant = compressed["openvino"]
    records = evaluation_records(original.run_dir)
    reference = load_predictor(original.run_dir).logits(records)[0]
    predictor = load_predictor(variant.run_dir)
    assert isinstance(predictor.model, OpenVinoTaskModel)
    # Compiled at f32 the IR computes what PyTorch fp32 does (the tiny model's logits are
    # ~0.1 apart, so labels must agree too); bf16 is the trade-off the report measures.
    f32 = OpenVinoTaskModel(variant.run_dir / "model", "f32")
    predictor.model = f32
    logits = predictor.logits(records)[0]
    assert np.abs(logits - reference).max() < 1e-3
    rows = predictor.predict([record.text for record in records[:3]])
    assert all(row["label"] in BBC_TOPICS for row in rows)


def test_openvino_int8_is_smaller_close_to_fp32_and_scored_like_the_original(compressed) -> None:
    original, fp32 = compressed["openvino"]
    _, int8 = compressed["openvino-int8"]
    # fp32 IR: the same weights as the safetensors; int8: about a quarter plus scales.
    assert fp32.measurements["size_bytes"] > 0.9 * original.measurements["size_bytes"]
    assert int8.measurements["size_bytes"] < 0.5 * fp32.measurements["size_bytes"]
    assert int8.details["fake_quantize_ops"] > 0
    assert int8.details["calibration_examples"] == FAST.calibration_size
    records = evaluation_records(original.run_dir)
    reference = load_predictor(original.run_dir).logits(records)[0]
    quantized = load_predictor(int8.run_dir).logits(records)[0]
    relative_error = np.abs(quantized - reference).max() / np.abs(reference).max()
    assert relative_error < 0.15, relative_error
    report = json.loads((int8.run_dir / "compression.json").read_text())
    assert report["method"] == "openvino-int8" and report["compressed"]["backend"] == "openvino"
    assert report["compressed"]["throughput_per_s"] > 0
    card = (int8.run_dir / "model_card.md").read_text()
    assert "| openvino-int8 |" in card and "Runs with OpenVINO" in card


def test_openvino_run_pushes_to_the_registry_and_serves(compressed, tmp_path: Path) -> None:
    from tuneforge.registry import open_registry
    from tuneforge.serve import create_app
    from tuneforge.serve.config import serve_config_from_dict

    _, variant = compressed["openvino-int8"]
    with open_registry(tmp_path / "registry") as registry:
        version = registry.push(variant.run_dir, "news-ov", stage="production")
        assert version.version == 1
        _, key = registry.create_key("acme", ["*"])
        stored = registry.resolve("news-ov@production").artifact_dir / "model"
        assert (stored / OPENVINO_WEIGHTS).is_file() and (stored / OPENVINO_XML).is_file()
        with TestClient(create_app(serve_config_from_dict({}), registry)) as client:
            response = client.post(
                "/v1/models/news-ov/predict",
                json={"inputs": ["Shares fell.", "The striker scored twice."]},
                headers={"Authorization": f"Bearer {key}"},
            )
    assert response.status_code == 200, response.text
    assert [p["label"] in BBC_TOPICS for p in response.json()["predictions"]] == [True, True]


def test_openvino_int8_without_enough_calibration_data_fails_cleanly(
    tmp_path_factory, tmp_path: Path
) -> None:
    with pytest.raises(CompressionError, match="openvino-int8 calibrates on 100000"):
        compress_run(
            bbc_run(tmp_path_factory),
            "openvino-int8",
            CompressOptions(calibration_size=100_000),
            tmp_path / "int8",
        )
    assert not (tmp_path / "int8").exists()


def test_openvino_compressed_run_cannot_be_compressed_again(compressed, tmp_path: Path) -> None:
    _, variant = compressed["openvino"]
    with pytest.raises(CompressionError, match="already a compressed openvino model"):
        compress_run(variant.run_dir, "openvino-int8", FAST, tmp_path / "again")


def test_openvino_missing_extra_is_a_user_error_naming_it(
    monkeypatch, capsys, tmp_path_factory, tmp_path: Path
) -> None:
    import builtins

    real_import = builtins.__import__

    def no_openvino(name, *args, **kwargs):
        if name == "openvino" or name.startswith("openvino."):
            raise ImportError("No module named 'openvino'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_openvino)
    output = tmp_path / "ov"
    code, out, err = invoke(
        monkeypatch,
        capsys,
        "compress",
        str(bbc_run(tmp_path_factory)),
        "--method",
        "openvino",
        "--output",
        str(output),
    )
    assert_user_error(code, out, err, "pip install 'tuneforge[openvino]'")
    assert not output.exists()


def test_openvino_run_explains_by_perturbation_not_gradients(compressed) -> None:
    from tuneforge.errors import ExplainError
    from tuneforge.explain.model import ExplainModel

    _, variant = compressed["openvino"]
    explained = ExplainModel(load_predictor(variant.run_dir), variant.run_dir)
    assert not explained.has_gradients
    scores = explained.scores_of_texts(["Shares fell.", "The striker scored twice."])
    assert scores.shape == (2, len(BBC_TOPICS))
    assert np.allclose(scores.sum(axis=1), 1.0, atol=1e-4)  # class probabilities
    with pytest.raises(ExplainError, match="served by OpenVINO"):
        explained.differentiable()


_SIGNAL_AFTER_RELEASE = """
import os, signal, sys
from pathlib import Path
from tuneforge.openvino_runtime import OpenVinoTaskModel
first = OpenVinoTaskModel(Path(sys.argv[1]), "f32", 1)
second = first.with_threads(2)  # what the predictor does for a thread count
del first  # released in the order they were compiled
del second
handled = []
signal.signal(signal.SIGINT, lambda *_: handled.append(True))
os.kill(os.getpid(), signal.SIGINT)
print("handled" if handled else "missed")
"""


def test_openvino_models_released_out_of_order_leave_signals_working(compressed) -> None:
    """OpenVINO's CPU plugin swaps the thread's alternate signal stack per compiled model; before
    signal_stack_kept, this left a freed stack behind and the next Ctrl-C was a segfault."""
    _, variant = compressed["openvino"]
    result = subprocess.run(
        [sys.executable, "-c", _SIGNAL_AFTER_RELEASE, str(variant.run_dir / "model")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (result.returncode, result.stderr[-2000:])
    assert result.stdout.strip().endswith("handled")
