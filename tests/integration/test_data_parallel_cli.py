"""`tuneforge train --nproc 2` through the real command: torchrun starts two gloo ranks that write
one run folder; the result matches one process accumulating the same two batches per step; a
kill -9 of one rank ends the launch and `--resume` finishes it to the uninterrupted result."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
from _configs import TUNEFORGE, checkpoint_step, cli_env, run_cli, tiny_config, write_yaml

pytestmark = pytest.mark.integration

# 160 articles -> 128 training examples -> 16 batches of 8: 8 per rank per epoch, 16 steps.
TRAINING = {
    "epochs": 2,
    "batch_size": 8,
    "learning_rate": 1e-3,
    "checkpoint_every_steps": 2,
    "eval_every_steps": 4,
}


def write_config(folder: Path, name: str, **training: object) -> Path:
    raw = tiny_config(
        folder / "runs", data={"max_examples": 160}, training={**TRAINING, **training}
    )
    raw["output"]["run_name"] = name
    return write_yaml(folder / f"{name}.yaml", raw)


def metrics(run_dir: Path) -> dict:
    return json.loads((run_dir / "metrics.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("ddp")
    result = run_cli("train", str(write_config(folder, "ddp")), "--nproc", "2", cwd=folder)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "2 processes" in result.stderr
    return folder / "runs" / "ddp"


def test_data_parallel_two_ranks_write_one_run(two_ranks: Path) -> None:
    assert [p.name for p in two_ranks.parent.iterdir()] == ["ddp"]
    saved = metrics(two_ranks)
    assert saved["training"]["steps"] == 16  # 8 batches per rank per epoch: shards, not copies
    assert (two_ranks / "model" / "model.safetensors").is_file()


def test_data_parallel_matches_one_process_accumulating(two_ranks: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, "single", gradient_accumulation_steps=2)
    result = run_cli("train", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    single, parallel = metrics(tmp_path / "runs" / "single"), metrics(two_ranks)
    assert single["training"]["steps"] == parallel["training"]["steps"]
    # Same batches and averaged gradients; only the ranks' dropout masks differ from the one
    # process's, so the scores agree within a little noise rather than exactly.
    assert abs(single["test"]["loss"] - parallel["test"]["loss"]) < 0.15
    assert abs(single["test"]["accuracy"] - parallel["test"]["accuracy"]) <= 0.2


def rank_processes(launcher: subprocess.Popen) -> dict[int, psutil.Process]:
    ranks = {}
    for child in psutil.Process(launcher.pid).children(recursive=True):
        try:
            rank = child.environ().get("RANK")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if rank is not None and "tuneforge" in " ".join(child.cmdline()):
            ranks[int(rank)] = child
    return ranks


def test_data_parallel_resumes_after_kill_9_of_one_rank(two_ranks: Path, tmp_path: Path) -> None:
    config = write_config(tmp_path, "ddp")
    run_dir = tmp_path / "runs" / "ddp"
    with (tmp_path / "first.log").open("wb") as log:
        launcher = subprocess.Popen(
            [str(TUNEFORGE), "train", str(config), "--nproc", "2"],
            cwd=tmp_path,
            env=cli_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 600
    killed = False
    while time.monotonic() < deadline and launcher.poll() is None:
        if checkpoint_step(run_dir) >= 6:
            rank_processes(launcher)[1].send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.1)
    assert killed, (tmp_path / "first.log").read_text()
    assert launcher.wait(timeout=120) != 0
    assert not (run_dir / "metrics.json").exists()
    assert 6 <= checkpoint_step(run_dir) < 16

    resumed = run_cli("train", str(config), "--nproc", "2", "--resume", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after, uninterrupted = metrics(run_dir), metrics(two_ranks)
    assert after["training"]["steps"] == 16
    assert after["test"]["loss"] == pytest.approx(uninterrupted["test"]["loss"], rel=1e-5)


def test_data_parallel_on_ray_train_writes_one_sharded_run(tmp_path: Path) -> None:
    pytest.importorskip("ray.train", reason="the ray-train extra is not installed")
    config = write_config(tmp_path, "ray", epochs=1)
    result = run_cli(
        "train", str(config), "--nproc", "2", "--ray-address", "local", cwd=tmp_path, timeout=900
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    saved = metrics(tmp_path / "runs" / "ray")
    assert saved["training"]["processes"] == 2
    assert saved["training"]["steps"] == 8  # 16 batches, 8 per worker: shards, not copies
    assert [p.name for p in (tmp_path / "runs").iterdir()] == ["ray"]
