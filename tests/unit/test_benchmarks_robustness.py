"""benchmarks/robustness.py without training: the run configs differ in the training step only,
and the verdict applies the issue's target (typos drop halved at <= 0.5 point clean loss)."""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import pytest

from benchmarks.robustness import parse_variant, run_config, run_name, split_fraction, verdict
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


def test_benchmarks_robustness_variants_name_their_settings(tmp_path: Path) -> None:
    args = _args(epsilon=0.05, step_size=None, norm="l2", augment_copies=2, augment_alpha=0.2)
    config = run_config(args, tmp_path / "d.csv", "pgd+typos", tmp_path)
    assert config["data"]["augmentation"] == {
        "method": "typos",
        "copies_per_row": 2,
        "alpha": 0.2,
        "seed": 0,
    }
    assert config["robustness"]["adversarial"]["method"] == "pgd"
    assert config_from_dict(config, source="benchmark").data.augmentation.method == "typos"
    assert "augmentation" not in run_config(args, tmp_path / "d.csv", "pgd", tmp_path)["data"]
    # --reuse keys on the folder: another epsilon or augmentation is another run
    names = {
        run_name(args, "pgd"),
        run_name(_args(epsilon=0.1, step_size=None, norm="l2"), "pgd"),
        run_name(args, "pgd+typos"),
        run_name(args, "none"),
    }
    assert len(names) == 4 and run_name(args, "none") == "none"
    with pytest.raises(SystemExit, match="METHOD"):
        parse_variant("pgd+synonyms")
    with pytest.raises(SystemExit, match="METHOD"):
        parse_variant("adv")


def test_benchmarks_robustness_train_fraction_keeps_the_test_rows(tmp_path: Path) -> None:
    data = tmp_path / "all.csv"
    rows = [(f"sentence number {i}", "positive" if i % 2 else "negative") for i in range(200)]
    with data.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])

    def read(path: Path) -> list[tuple[str, str]]:
        with path.open(encoding="utf-8", newline="") as handle:
            return [(row["text"], row["label"]) for row in csv.DictReader(handle)]

    full_train, full_test = map(read, split_fraction(data, 1.0, tmp_path / "full"))
    train, test = map(read, split_fraction(data, 0.1, tmp_path / "tenth"))
    assert test == full_test and len(test) == 40
    assert len(full_train) == 160 and len(train) == 16 and set(train) < set(full_train)
    assert not set(train) & set(test)
    assert sorted(label for _, label in train) == ["negative"] * 8 + ["positive"] * 8
    config = run_config(_args(), (tmp_path / "t.csv", tmp_path / "u.csv"), "none+eda", tmp_path)
    assert config["data"]["test_source"] == str(tmp_path / "u.csv")
    assert config_from_dict(config, source="benchmark").data.augmentation.method == "eda"
