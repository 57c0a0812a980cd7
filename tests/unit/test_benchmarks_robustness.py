"""benchmarks/robustness.py without training: the run configs differ in the training step only,
and the verdict applies the issue's target (typos drop halved at <= 0.5 point clean loss)."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.robustness import run_config, verdict
from tuneforge.config import config_from_dict


def _args(**overrides) -> argparse.Namespace:
    values = dict(
        dataset="rt_sentences", epochs=2.0, max_seq_length=64, layers=6, epsilon=1.0, steps=3
    )
    return argparse.Namespace(**{**values, **overrides})


def _row(method: str, clean: float, typos: float) -> dict:
    return {
        "method": method,
        "clean_accuracy": clean,
        "attacks": {"typos": {"drop": clean - typos}},
        "train_seconds": 10.0 if method == "none" else 30.0,
    }


def test_benchmarks_robustness_configs_differ_in_the_step_only(tmp_path: Path) -> None:
    for dataset in ("rt_sentences", "bbc_news"):
        standard = run_config(_args(dataset=dataset), tmp_path / "d.csv", "none", tmp_path)
        pgd = run_config(_args(dataset=dataset), tmp_path / "d.csv", "pgd", tmp_path)
        assert pgd["robustness"]["adversarial"]["method"] == "pgd"
        pgd["robustness"], standard["robustness"] = None, None
        pgd["output"], standard["output"] = None, None
        assert pgd == standard
        assert "early_stopping_patience" not in standard["training"]
    config = run_config(_args(), tmp_path / "d.csv", "fgm", tmp_path)
    assert config_from_dict(config, source="benchmark").robustness.adversarial.method == "fgm"


def test_benchmarks_robustness_verdict() -> None:
    rows = [_row("none", 0.90, 0.50), _row("pgd", 0.897, 0.75), _row("fgm", 0.88, 0.80)]
    result = verdict(rows)
    assert result["pgd"]["met"] and abs(result["pgd"]["typos_drop_ratio"] - 0.147 / 0.4) < 1e-9
    assert not result["fgm"]["met"]  # drop 0.08 is well below half, but 2 points clean lost
    assert result["fgm"]["train_time_ratio"] == 3.0
