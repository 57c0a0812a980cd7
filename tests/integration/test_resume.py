"""Interrupted training resumes to exactly the result of an uninterrupted run: kill -9 (a crash,
an OOM kill, a pre-empted VM) and Ctrl-C, through the real `tuneforge train` command."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from _configs import TUNEFORGE, checkpoint_step, cli_env, run_cli, tiny_config, write_yaml

pytestmark = pytest.mark.integration

# 150 BBC articles -> 120 training examples -> 15 steps of 8 per epoch, 2 epochs: 30 steps.
# Checkpoints every 2 steps; losses logged every 3, so a kill between log steps must carry the
# partial loss sum over; validation every 10 steps (a best checkpoint before and after the kill).
RESUMABLE = {
    "data": {"source": "builtin:bbc-news", "max_examples": 150},
    "training": {
        "epochs": 2,
        "batch_size": 8,
        "learning_rate": 1e-3,  # weights move far in 30 steps: a wrong resume cannot hide
        "checkpoint_every_steps": 2,
        "eval_every_steps": 10,
        "log_every_steps": 3,
    },
}
TOTAL_STEPS = 30


def write_config(folder: Path) -> Path:
    raw = tiny_config(folder / "runs", **RESUMABLE)
    del raw["output"]["run_name"]  # the run is named after the config file
    return write_yaml(folder / "bbc.yaml", raw)


def start_training(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as handle:
        return subprocess.Popen(
            [str(TUNEFORGE), "train", str(config)],
            cwd=config.parent,
            env=cli_env(),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def wait_for_checkpoint(
    process: subprocess.Popen[bytes], run_dir: Path, step: int, log: Path
) -> int:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        reached = checkpoint_step(run_dir)
        if reached >= step:
            return reached
        if process.poll() is not None:
            pytest.fail(f"training ended before step {step}:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"no checkpoint at step {step} within 240 s:\n{log.read_text()[-3000:]}")


def read_run(run_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    metrics = json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))
    history = [
        json.loads(line)
        for line in (run_dir / "history.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    return metrics, history


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, list]:
    """metrics.json and history of the same config trained in one go."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    config = write_config(folder)
    result = run_cli("train", str(config), "--set", "output.run_name=straight", cwd=folder)
    assert result.returncode == 0, result.stderr[-3000:]
    return read_run(folder / "runs/straight")


def assert_same_run(resumed: Path, reference: tuple[dict, list]) -> None:
    metrics, history = read_run(resumed)
    expected_metrics, expected_history = reference
    assert metrics["training"]["steps"] == TOTAL_STEPS
    # Bit-for-bit: same batches, dropout masks, optimizer moments and learning rates.
    assert metrics["test"] == expected_metrics["test"]
    assert metrics["validation"] == expected_metrics["validation"]
    # Wall-clock figures differ between any two runs; everything else must match exactly.
    timing = ("train_seconds", "samples_per_second")
    assert {k: v for k, v in metrics["training"].items() if k not in timing} == {
        k: v for k, v in expected_metrics["training"].items() if k not in timing
    }
    assert history == expected_history


def test_resume_after_kill_9_matches_an_uninterrupted_run(
    tmp_path: Path, uninterrupted: tuple[dict, list]
) -> None:
    config = write_config(tmp_path)
    run_dir = tmp_path / "runs/bbc"
    log = tmp_path / "killed.log"
    process = start_training(config, log)

    killed_at = wait_for_checkpoint(process, run_dir, 4, log)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)

    assert process.returncode == -signal.SIGKILL
    assert killed_at < TOTAL_STEPS
    assert not (run_dir / "metrics.json").exists()
    refused = run_cli("train", str(config), cwd=tmp_path)
    assert refused.returncode == 2 and "--resume" in refused.stderr
    resumed = run_cli("train", str(config), "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(run_dir, uninterrupted)


def test_ctrl_c_saves_and_resume_completes(
    tmp_path: Path, uninterrupted: tuple[dict, list]
) -> None:
    config = write_config(tmp_path)
    run_dir = tmp_path / "runs/bbc"
    log = tmp_path / "interrupted.log"
    process = start_training(config, log)

    wait_for_checkpoint(process, run_dir, 2, log)
    process.send_signal(signal.SIGINT)
    code = process.wait(timeout=120)

    output = log.read_text(encoding="utf-8")
    assert code == 130, output[-3000:]
    assert "Traceback" not in output
    assert "--resume" in output
    stopped_at = checkpoint_step(run_dir)
    assert 2 <= stopped_at < TOTAL_STEPS
    resumed = run_cli("train", str(config), "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert_same_run(run_dir, uninterrupted)
