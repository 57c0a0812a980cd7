"""DP-SGD through the real `tuneforge train` command: a private run that is killed with -9 and
resumed spends exactly the epsilon and reaches exactly the metrics of an uninterrupted one, and
what it spent reaches metrics.json, the model card and the registry."""

from __future__ import annotations

import json
import signal
from pathlib import Path

import pytest
from _configs import run_cli, tiny_config, write_yaml

from integration.test_resume import read_run, start_training, wait_for_checkpoint

pytest.importorskip("opacus")
pytestmark = pytest.mark.integration

# 150 BBC articles -> about 120 training rows; Poisson batches of 24 expected rows in pieces of 8
# (several pieces per step, and the last piece of a step is ragged); 5 steps an epoch, 2 epochs.
PRIVATE = {
    "data": {"source": "builtin:bbc-news", "max_examples": 150},
    "adaptation": {"method": "lora"},
    "training": {
        "epochs": 2,
        "batch_size": 8,
        "learning_rate": 2e-3,
        "checkpoint_every_steps": 2,
        "eval_every_steps": 4,
        "log_every_steps": 3,
    },
    # Group-wise and adaptive clipping on: resume must restore both exactly too (the adaptive
    # clip travels in the optimizer's checkpoint).
    "privacy": {
        "target_epsilon": 8,
        "batch_size": 24,
        "max_grad_norm": 0.5,
        "head_clip_fraction": 0.3,
        "clip_quantile": 0.5,
    },
}
TOTAL_STEPS = 10


def write_config(folder: Path, **overrides: dict) -> Path:
    raw = tiny_config(folder / "runs", **{**PRIVATE, **overrides})
    del raw["output"]["run_name"]
    return write_yaml(folder / "private.yaml", raw)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("private-straight")
    result = run_cli("train", str(write_config(folder)), cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder / "runs/private"


def test_private_run_reports_its_epsilon_everywhere(uninterrupted: Path, tmp_path: Path) -> None:
    metrics, history = read_run(uninterrupted)
    privacy = metrics["privacy"]
    assert privacy["steps"] == metrics["training"]["steps"] == TOTAL_STEPS
    assert 7.0 < privacy["epsilon"] <= 8.0
    assert 110 < privacy["training_rows"] <= 120
    assert privacy["delta"] == pytest.approx(1 / (10 * privacy["training_rows"]))
    assert privacy["accountant"] == "prv" and privacy["max_grad_norm"] == 0.5
    assert [row["epsilon"] for row in history if "epsilon" in row] == sorted(
        row["epsilon"] for row in history if "epsilon" in row
    )
    card = (uninterrupted / "model_card.md").read_text(encoding="utf-8")
    assert "## Differential privacy" in card and f"{privacy['epsilon']:.2f}" in card
    assert privacy["head_clip_fraction"] == 0.3
    assert "the task head's gradient at 0.3 of it, the rest at 0.954" in card
    assert privacy["clip_quantile"] == 0.5 and privacy["final_clip"] != 0.5
    assert privacy["gradient_noise_multiplier"] > privacy["noise_multiplier"]
    assert f"from 0.5 to {privacy['final_clip']:.3g}" in " ".join(card.split())
    # What clipping did: in metrics.json for whoever trains, but (outside the DP guarantee)
    # neither in the privacy block the registry shows nor in the card that ships with the model.
    norms = metrics["dp_gradient_norms"]
    assert norms["steps"] == [1, TOTAL_STEPS] and 0 < norms["examples"] <= 10 * 2 * 24
    assert "gradient_norms" not in privacy and "clipped" not in card.lower()

    registry = tmp_path / "registry"
    pushed = run_cli(
        "registry",
        "push",
        str(uninterrupted),
        "--name",
        "private",
        "--registry",
        str(registry),
        cwd=tmp_path,
    )
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    shown = run_cli("registry", "show", "private@1", "--registry", str(registry), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr[-3000:]
    assert json.loads(shown.stdout)["lineage"]["privacy"]["epsilon"] == privacy["epsilon"]


def test_private_resume_after_kill_9_spends_the_same_epsilon(
    uninterrupted: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path)
    run_dir = tmp_path / "runs/private"
    log = tmp_path / "killed.log"
    process = start_training(config, log)
    killed_at = wait_for_checkpoint(process, run_dir, 4, log)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert killed_at < TOTAL_STEPS
    resumed = run_cli("train", str(config), "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    metrics, history = read_run(run_dir)
    expected_metrics, expected_history = read_run(uninterrupted)
    assert metrics["privacy"] == expected_metrics["privacy"]
    # The norms are not checkpointed: the resumed session's are those of its own steps.
    first, last = metrics["dp_gradient_norms"]["steps"]
    assert 1 < first <= TOTAL_STEPS and last == TOTAL_STEPS
    assert metrics["test"] == expected_metrics["test"]
    assert metrics["validation"] == expected_metrics["validation"]
    assert history == expected_history


def test_bad_privacy_settings_exit_2_with_the_reason(tmp_path: Path) -> None:
    too_large_delta = write_config(tmp_path, privacy={"target_epsilon": 8, "target_delta": 0.01})
    result = run_cli("train", str(too_large_delta), cwd=tmp_path)
    assert result.returncode == 2
    assert "privacy.target_delta" in result.stderr and "Traceback" not in result.stderr

    prefix = write_config(tmp_path, adaptation={"method": "prefix"})
    result = run_cli("train", str(prefix), cwd=tmp_path)
    assert result.returncode == 2
    assert "prefix cannot be trained with DP-SGD" in result.stderr
