"""Robustness end to end through the installed command: a 1-layer model trained with PGD for a
few steps records its adversarial settings and cost, then `tuneforge robustness` writes the
report files and the model-card section, and `tuneforge data augment` writes the augmented
training split."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _configs import run_cli, tiny_config, write_yaml

pytestmark = pytest.mark.integration


def test_robustness_cli_pgd_training_then_attack_report(tmp_path: Path) -> None:
    raw = tiny_config(
        tmp_path / "runs",
        training={"max_steps": 4, "batch_size": 8},
        robustness={"adversarial": {"method": "pgd", "epsilon": 0.5, "steps": 2}},
    )
    config = write_yaml(tmp_path / "pgd.yaml", raw)
    trained = run_cli("train", str(config), cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr
    run_dir = tmp_path / "runs" / "run"
    adversarial = json.loads((run_dir / "metrics.json").read_text())["training"]["adversarial"]
    assert adversarial["method"] == "pgd" and adversarial["passes_per_step"] == 4

    attacked = run_cli(
        "robustness",
        str(run_dir),
        "--attack",
        "charswap,deepwordbug,synonyms",
        "--budget",
        "10",
        "--max-examples",
        "8",
        cwd=tmp_path,
    )
    assert attacked.returncode == 0, attacked.stderr
    report = json.loads((run_dir / "robustness" / "robustness.json").read_text())
    assert report["examples"] == 8
    assert set(report["attacks"]) == {"charswap", "deepwordbug", "synonyms"}
    assert all(attack["mean_queries"] <= 10 for attack in report["attacks"].values())
    assert (run_dir / "robustness" / "robustness.md").read_text().startswith("## Robustness")
    assert (run_dir / "robustness" / "robustness.png").stat().st_size > 0
    assert "## Robustness" in (run_dir / "model_card.md").read_text()


def test_robustness_cli_data_augment_writes_the_training_split(tmp_path: Path) -> None:
    raw = tiny_config(tmp_path / "runs")
    raw["data"]["augmentation"] = {"method": "eda", "copies_per_row": 2, "seed": 3}
    config = write_yaml(tmp_path / "aug.yaml", raw)
    result = run_cli("data", "augment", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    folder = tmp_path / "runs" / "run-data"
    rows = [json.loads(line) for line in (folder / "splits" / "train.jsonl").open()]
    copies = [row for row in rows if row.get("augmented")]
    assert copies and len(rows) - len(copies) == 80  # 100 examples, 10% validation, 10% test
    report = json.loads((folder / "data_report.json").read_text())
    assert report["splits"]["train"]["augmented"] == len(copies)
    assert report["splits"]["test"]["augmented"] == 0

    refused = run_cli(
        "data",
        "augment",
        str(write_yaml(tmp_path / "none.yaml", tiny_config(tmp_path))),
        cwd=tmp_path,
    )
    assert refused.returncode == 2 and "data.augmentation.method" in refused.stderr
