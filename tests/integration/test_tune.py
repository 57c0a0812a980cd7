"""`tuneforge tune` through the real command: a study killed with -9 mid-trial resumes and runs
the killed trial's values again; parallel trial processes on one storage with two objectives."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from _configs import TUNEFORGE, cli_env, run_cli, tiny_config, write_yaml

pytestmark = pytest.mark.integration

SPACE = {
    "training.learning_rate": {"type": "loguniform", "low": 1e-5, "high": 1e-3},
    "training.batch_size": {"type": "categorical", "choices": [8, 16]},
}


def write_study_config(folder: Path, max_steps: int, **search: object) -> Path:
    raw = tiny_config(
        folder / "runs",
        data={"max_examples": 60},
        training={"max_steps": max_steps, "eval_every_steps": 1},
    )
    raw["search"] = {"space": SPACE, "startup_trials": 1, **search}
    return write_yaml(folder / "search.yaml", raw)


def trials_by_state(study_dir: Path) -> dict[str, list]:
    import optuna

    storage = f"sqlite:///{study_dir / 'study.db'}"
    try:
        trials = optuna.load_study(study_name="tuneforge", storage=storage).get_trials()
    except Exception:  # not created yet, or locked by the writer
        return {}
    states: dict[str, list] = {}
    for trial in trials:
        states.setdefault(trial.state.name, []).append(trial)
    return states


def test_tune_resumes_after_kill_9_and_reruns_the_killed_trial(tmp_path: Path) -> None:
    config = write_study_config(tmp_path, max_steps=6, trials=3)
    study_dir = tmp_path / "study"
    with (tmp_path / "first.log").open("wb") as log:
        process = subprocess.Popen(
            [str(TUNEFORGE), "tune", str(config), "--output", str(study_dir)],
            cwd=tmp_path,
            env=cli_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 600
    states: dict[str, list] = {}
    while time.monotonic() < deadline and process.poll() is None:
        states = trials_by_state(study_dir)
        # Kill once trial 1 has reported an evaluation: mid-trial, after one finished trial.
        running = states.get("RUNNING", [])
        if states.get("COMPLETE") and running and running[0].intermediate_values:
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.2)
    assert process.wait(timeout=60) == -signal.SIGKILL, (tmp_path / "first.log").read_text()
    killed = trials_by_state(study_dir)["RUNNING"][0]

    resumed = run_cli(
        "tune", str(config), "--output", str(study_dir), "--resume", cwd=tmp_path, timeout=900
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    states = trials_by_state(study_dir)
    assert len(states["COMPLETE"]) == 3
    assert [t.number for t in states["FAIL"]] == [killed.number]
    assert any(t.params == killed.params for t in states["COMPLETE"] if t.number > killed.number)
    summary = json.loads((study_dir / "summary.json").read_text())
    assert summary["best"]["test"]["num_examples"] > 0
    assert (study_dir / "best" / "metrics.json").is_file()


def test_tune_parallel_jobs_with_two_objectives_draw_a_pareto_front(tmp_path: Path) -> None:
    config = write_study_config(
        tmp_path,
        max_steps=2,
        trials=3,
        second_objective="trainable_parameters",
        space={**SPACE, "adaptation.method": {"type": "categorical", "choices": ["full", "lora"]}},
    )
    study_dir = tmp_path / "study"
    result = run_cli(
        "tune", str(config), "--jobs", "2", "--output", str(study_dir), cwd=tmp_path, timeout=900
    )
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads((study_dir / "summary.json").read_text())
    assert summary["counts"]["complete"] >= 3
    assert summary["pruner"] == "none (multi-objective)"
    assert all(row["second"] > 0 for row in summary["trials"] if row["state"] == "complete")
    assert (study_dir / "plots" / "pareto.png").is_file()
    assert sorted(p.name for p in (study_dir / "workers").iterdir()) == ["0.log", "1.log"]


def test_tune_space_typo_exits_2_with_a_suggestion(tmp_path: Path) -> None:
    raw = tiny_config(tmp_path)
    raw["search"] = {"space": {"training.learning_rte": SPACE["training.learning_rate"]}}
    config = write_yaml(tmp_path / "typo.yaml", raw)
    result = run_cli("tune", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert "did you mean training.learning_rate?" in result.stderr
    assert "Traceback" not in result.stderr


def test_tune_ray_backend_runs_the_trials_and_the_best_run(tmp_path: Path) -> None:
    pytest.importorskip("ray.tune", reason="the ray extra is not installed")
    config = write_study_config(tmp_path, max_steps=2, trials=2, backend="ray")
    study_dir = tmp_path / "study"
    result = run_cli("tune", str(config), "--output", str(study_dir), cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((study_dir / "summary.json").read_text())
    assert summary["counts"]["complete"] == 2
    assert summary["pruner"] == "asha (ray)"
    # The first trial is the config's own values (Ray's points_to_evaluate).
    assert summary["trials"][0]["params"] == {
        "training.learning_rate": 1e-4,
        "training.batch_size": 16,
    }
    assert (study_dir / "ray" / "study").is_dir()
    assert summary["best"]["test"]["num_examples"] > 0
