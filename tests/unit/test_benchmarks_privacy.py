"""benchmarks/privacy.py without training: contenders' configs validate, private ones carry the
privacy section and the same split, and the verdict applies the issue's 3-point target."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from benchmarks.privacy import (
    MAX_GRAD_NORM,
    PRIVATE_BATCH,
    PRIVATE_TRAINING,
    main,
    public_config,
    run_config,
    run_contender,
    verdict,
)
from tuneforge.config import config_from_dict


def _args(**overrides) -> argparse.Namespace:
    values = dict(
        dataset="rt_sentences",
        epochs=2.0,
        private_epochs=None,
        private_batch=PRIVATE_BATCH,
        private_lr=None,
        private_head_lr=None,
        private_clip=MAX_GRAD_NORM,
        private_schedule="linear",
        private_clipping="auto",
        private_head_clip=None,
        seed=42,
        max_seq_length=64,
        layers=6,
        model=None,
        public_pretrain=False,
    )
    return argparse.Namespace(**{**values, **overrides})


def test_benchmarks_privacy_configs_share_the_split_and_differ_in_privacy(tmp_path: Path) -> None:
    for dataset in ("rt_sentences", "bbc_news"):
        public = run_config(_args(dataset=dataset), tmp_path / "d.csv", "lora:none", tmp_path)
        private = run_config(_args(dataset=dataset), tmp_path / "d.csv", "lora:3", tmp_path)
        assert "privacy" not in public and private["privacy"]["target_epsilon"] == 3.0
        assert public["data"] == private["data"] and public["model"] == private["model"]
        assert public["training"]["seed"] == private["training"]["seed"]
        loaded = config_from_dict(private, source="benchmark")
        assert loaded.privacy.enabled and loaded.adaptation.method == "lora"
    longer = run_config(_args(private_epochs=8.0), tmp_path / "d.csv", "lora:8", tmp_path)
    assert longer["training"]["epochs"] == 8.0 and longer["output"]["run_name"] == "lora-eps8-e8"
    full = run_config(_args(), tmp_path / "d.csv", "full:8", tmp_path)
    assert full["adaptation"]["freeze_word_embeddings"] is True


def test_benchmarks_privacy_private_batch_and_rate_reach_private_runs_only(tmp_path: Path) -> None:
    args = _args(private_batch=1024, private_lr=5e-3, private_head_lr=2e-2, private_clip=0.1)
    private = run_config(args, tmp_path / "d.csv", "lora:8", tmp_path)
    public = run_config(args, tmp_path / "d.csv", "lora:none", tmp_path)
    assert private["privacy"]["batch_size"] == 1024
    assert private["training"]["learning_rate"] == 5e-3
    assert private["privacy"]["max_grad_norm"] == 0.1
    assert (
        public["training"]
        == run_config(_args(), tmp_path / "d.csv", "lora:none", tmp_path)["training"]
    )
    # --reuse keys on the run name: other private settings never reuse a default run.
    assert private["training"]["head_learning_rate"] == 2e-2
    assert private["output"]["run_name"] == "lora-eps8-e2-b1024-lr0.005-head0.02-clip0.1"
    default = run_config(_args(), tmp_path / "d.csv", "lora:8", tmp_path)
    assert default["output"]["run_name"] == "lora-eps8-e2"
    assert default["training"]["learning_rate"] == PRIVATE_TRAINING["lora"]["learning_rate"]


def test_benchmarks_privacy_schedule_and_clipping_are_private_and_seed_reaches_both(
    tmp_path: Path,
) -> None:
    args = _args(private_schedule="constant", seed=7, private_clipping="per_example")
    args.private_head_clip = 0.3
    private = run_config(args, tmp_path / "d.csv", "lora:8", tmp_path)
    public = run_config(args, tmp_path / "d.csv", "lora:none", tmp_path)
    assert private["training"]["lr_schedule"] == "constant"
    assert "lr_schedule" not in public["training"]
    assert private["training"]["seed"] == public["training"]["seed"] == 7
    assert private["data"]["split"]["seed"] == 42  # another training seed, the same split
    assert private["output"]["run_name"] == "lora-eps8-e2-constant-per_example-hclip0.3-seed7"
    assert private["privacy"]["clipping"] == "per_example"
    assert private["privacy"]["head_clip_fraction"] == 0.3
    assert public["output"]["run_name"] == "lora-epsnone-e2-seed7"
    assert config_from_dict(private, source="benchmark").training.lr_schedule == "constant"


def test_benchmarks_privacy_starting_model_reaches_both_regimes(tmp_path: Path) -> None:
    args = _args(model=tmp_path / "public-full" / "model")
    private = run_config(args, tmp_path / "d.csv", "lora:8", tmp_path)
    non_private = run_config(args, tmp_path / "d.csv", "lora:none", tmp_path)
    assert private["model"]["name"] == non_private["model"]["name"] == str(args.model)
    assert private["output"]["run_name"] == "lora-eps8-e2-from-public-full"
    assert non_private["output"]["run_name"] == "lora-epsnone-e2-from-public-full"
    seeded = _args(model=tmp_path / "public-full-seed1" / "model", public_pretrain=True, seed=1)
    assert run_config(seeded, None, "lora:8", tmp_path)["output"]["run_name"] == (
        "lora-eps8-e2-public-seed1"
    )
    public = public_config(_args(), tmp_path / "public.csv", tmp_path)
    loaded = config_from_dict(public, source="benchmark")
    assert not loaded.privacy.enabled and loaded.adaptation.method == "full"
    assert public["model"] == run_config(_args(), None, "lora:8", tmp_path)["model"]


@pytest.mark.parametrize(
    "argv", [["--dataset", "bbc_news"], ["--model", "somewhere"]], ids=["bbc", "with-model"]
)
def test_benchmarks_privacy_public_pretrain_refuses_other_settings(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--public-pretrain", *argv])
    assert stopped.value.code == 2


def test_benchmarks_privacy_verdict() -> None:
    def row(contender: str, accuracy: float, seconds: float) -> dict:
        return {"contender": contender, "test_accuracy": accuracy, "seconds_per_epoch": seconds}

    rows = [row("lora:none", 0.85, 10.0), row("lora:8", 0.83, 15.0), row("lora:3", 0.80, 15.0)]
    result = verdict(rows)
    assert result["lora:8"] == {
        "accuracy_points_lost": 2.0,
        "within_3_points": True,
        "time_per_epoch_ratio": 1.5,
    }
    assert result["lora:3"]["within_3_points"] is False
    assert "lora:none" not in result


def test_benchmarks_privacy_reuse_reads_each_runs_own_peak_memory(tmp_path: Path) -> None:
    """Run names carry dots (clip0.1): each run's memory file must be its own."""
    peaks = {}
    for clip, peak in ((0.1, 1000.0), (0.2, 2000.0)):
        args = _args(private_clip=clip, reuse=True, audit=False)
        name = run_config(args, tmp_path / "d.csv", "lora:8", tmp_path)["output"]["run_name"]
        (tmp_path / name).mkdir()
        metrics = {
            "training": {"steps": 4, "train_seconds": 8.0},
            "test": {"accuracy": 0.9, "macro_f1": 0.9},
        }
        (tmp_path / name / "metrics.json").write_text(json.dumps(metrics), encoding="utf-8")
        (tmp_path / f"{name}.peak_rss_mib").write_text(str(peak), encoding="utf-8")
        peaks[clip] = peak
    for clip, peak in peaks.items():
        args = _args(private_clip=clip, reuse=True, audit=False)
        assert run_contender(args, tmp_path / "d.csv", "lora:8", tmp_path)["peak_rss_mib"] == peak
