"""The predictor's ONNX Runtime and torch-int8 backends, and loading every compressed artifact
in a fresh process with nothing but onnxruntime or transformers (issue 5)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from _configs import cli_env

from tuneforge.compress.methods import evaluation_records
from tuneforge.inference import OnnxTaskModel
from tuneforge.predict import load_predictor


def test_predict_onnx_backend_predicts_like_pytorch(compressed_bbc) -> None:
    original, variant = compressed_bbc["onnx"]
    texts = [record.text for record in evaluation_records(original.run_dir)]
    torch_rows = load_predictor(original.run_dir).predict(texts)
    onnx_predictor = load_predictor(variant.run_dir)
    onnx_rows = onnx_predictor.predict(texts)
    assert isinstance(onnx_predictor.model, OnnxTaskModel)
    assert [row["label"] for row in onnx_rows] == [row["label"] for row in torch_rows]
    worst = max(abs(a["score"] - b["score"]) for a, b in zip(onnx_rows, torch_rows, strict=True))
    assert worst < 1e-4


def test_predict_onnx_artifacts_load_with_plain_onnxruntime_and_transformers(
    compressed_bbc,
) -> None:
    folders = {method: str(pair[1].run_dir / "model") for method, pair in compressed_bbc.items()}
    # No tuneforge import: what a user without tuneforge installed would run.
    script = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        import onnxruntime
        from transformers import AutoModelForSequenceClassification, AutoTokenizer
        folders = json.loads(sys.argv[1])
        shapes = {}
        for method, folder in folders.items():
            tokenizer = AutoTokenizer.from_pretrained(folder)
            encoded = tokenizer(["Shares rose on Monday.", "A late goal won it."],
                                padding=True, return_tensors="np")
            if method.startswith("onnx"):
                session = onnxruntime.InferenceSession(folder + "/model.onnx")
                feed = {node.name: encoded[node.name] for node in session.get_inputs()}
                logits = session.run(["logits"], feed)[0]
            else:
                model = AutoModelForSequenceClassification.from_pretrained(folder)
                logits = model(**tokenizer(["Shares rose on Monday.", "A late goal won it."],
                                           padding=True, return_tensors="pt")).logits
                logits = logits.detach().numpy()
            assert np.isfinite(logits).all()
            shapes[method] = list(logits.shape)
        print(json.dumps(shapes))
        assert "tuneforge" not in sys.modules
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script, json.dumps(folders)],
        capture_output=True,
        text=True,
        env=cli_env(),
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    shapes = json.loads(result.stdout.strip().splitlines()[-1])
    assert shapes == {method: [2, 5] for method in folders}
