"""ONNX export of every task head: logits match PyTorch fp32 at several batch sizes and lengths."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from _configs import task_run

from tuneforge.compress.methods import CompressionError, SourceRun
from tuneforge.compress.onnx_export import check_parity, export_onnx
from tuneforge.inference import onnx_session
from tuneforge.run.layout import read_records


@pytest.mark.parametrize("task", ["classification", "multilabel", "regression", "ner"])
def test_onnx_export_matches_pytorch_on_dynamic_shapes(
    task: str, tmp_path_factory, tmp_path: Path, bbc_news_dir: Path, wnut16_file: Path
) -> None:
    run_dir = task_run(tmp_path_factory, task, {"bbc": bbc_news_dir, "wnut": wnut16_file})
    source = SourceRun.open(run_dir)
    model = source.load_model()
    texts = [record.text for record in read_records(run_dir / "splits" / "test.jsonl")]
    path = tmp_path / "model.onnx"

    report = export_onnx(model, source.tokenizer, task, path, source.max_seq_length, texts=texts)

    assert report["max_abs_diff"] < 1e-3
    session = onnx_session(path)
    assert [node.name for node in session.get_outputs()] == ["logits"]
    # Batch 1 and 7, lengths 5 and 32: shapes other than the export example (2 x 8).
    for size, length in ((1, 5), (7, 32)):
        encoded = source.tokenizer(
            (texts * 7)[:size],
            padding="max_length",
            truncation=True,
            max_length=length,
            return_tensors="np",
        )
        feed = {node.name: encoded[node.name] for node in session.get_inputs()}
        onnx_logits = session.run(["logits"], feed)[0]
        with torch.inference_mode():
            expected = model(**{k: torch.from_numpy(v) for k, v in feed.items()}).logits.numpy()
        assert onnx_logits.shape == expected.shape
        assert onnx_logits.shape[0] == size
        mask = feed["attention_mask"].astype(bool)
        difference = np.abs(onnx_logits - expected)
        assert float((difference[mask] if task == "ner" else difference).max()) < 1e-3


def test_onnx_parity_failure_removes_the_file(compressed_bbc, tmp_path: Path) -> None:
    original, variant = compressed_bbc["onnx"]
    path = tmp_path / "model.onnx"
    shutil.copy(variant.run_dir / "model" / "model.onnx", path)
    source = SourceRun.open(original.run_dir)
    # fp32 ONNX and PyTorch differ by ~1e-7 (different kernels); a tolerance below that fails.
    with pytest.raises(CompressionError, match="differ from PyTorch"):
        check_parity(
            source.load_model(),
            source.tokenizer,
            "classification",
            path,
            source.max_seq_length,
            tolerance=1e-12,
        )
    assert not path.exists()


def test_onnx_export_of_a_merged_lora_run(tmp_path_factory, tmp_path: Path) -> None:
    from _configs import bbc_run

    source = SourceRun.open(bbc_run(tmp_path_factory, "lora"))
    assert source.info.saved_as == "merged"
    report = export_onnx(
        source.load_model(),
        source.tokenizer,
        "classification",
        tmp_path / "model.onnx",
        source.max_seq_length,
    )
    assert report["max_abs_diff"] < 1e-3
