"""Every task's finished run becomes a version that loads and predicts; the weights are checked
against the checksums recorded at push time."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _configs import task_run

from tuneforge.predict import load_predictor
from tuneforge.registry import Registry, RegistryError

HEADLINE = {"multilabel": "micro_f1", "regression": "r2", "ner": "f1"}
INPUTS = {
    "multilabel": "Barack Obama visited Paris with Google executives",
    "regression": "Shares in the company rose after strong results were announced today.",
    "ner": "Barack Obama visited Paris",
}


@pytest.mark.parametrize("task", ["multilabel", "regression", "ner"])
def test_store_push_each_task(
    registry: Registry,
    tmp_path_factory: pytest.TempPathFactory,
    bbc_news_dir: Path,
    wnut16_file: Path,
    task: str,
) -> None:
    run_dir = task_run(tmp_path_factory, task, {"bbc": bbc_news_dir, "wnut": wnut16_file})
    version = registry.push(run_dir, f"{task}-model")

    task_info = json.loads((run_dir / "model" / "tuneforge.json").read_text())
    assert (version.task, version.label_names) == (task, task_info["label_names"])
    assert version.metrics == json.loads((run_dir / "metrics.json").read_text())["test"]
    assert version.lineage["main_metric"] == HEADLINE[task]
    assert version.reference_profile() is not None
    version.verify()
    (prediction,) = load_predictor(version.artifact_dir).predict([INPUTS[task]])
    assert prediction


@pytest.mark.usefixtures("no_profile")
def test_store_verify_detects_changed_weights_and_pickles(
    registry: Registry, finished_run: Path
) -> None:
    version = registry.push(finished_run, "news-topic")
    version.verify()
    weights = version.artifact_dir / "model" / "model.safetensors"

    pickle = version.artifact_dir / "model" / "pytorch_model.bin"
    pickle.write_bytes(b"\x80\x04")
    with pytest.raises(RegistryError, match=r"pickle files .*pytorch_model\.bin"):
        version.verify()
    pickle.unlink()

    os.chmod(weights, 0o644)  # the registry made it read-only; a careless hand does not care
    with weights.open("r+b") as handle:
        handle.seek(-1, os.SEEK_END)
        last = handle.read(1)
        handle.seek(-1, os.SEEK_END)
        handle.write(bytes([last[0] ^ 1]))
    with pytest.raises(RegistryError, match="differs from the file registered"):
        version.verify()
