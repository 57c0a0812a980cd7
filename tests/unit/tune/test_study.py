"""A real study on the one-layer model: trials on validation only, the best trial re-run as a
run folder and scored on test once, pruning that stops a trial, refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _configs import tiny_config

import tuneforge.pipeline
import tuneforge.tune.study
from tuneforge.config import RunConfig, config_from_dict
from tuneforge.errors import ConfigError
from tuneforge.tune import layout, run_study
from tuneforge.tune.objective import TrialRunner, objective_of
from tuneforge.tune.study import open_study

SPACE = {
    "training.learning_rate": {"type": "loguniform", "low": 1e-5, "high": 1e-3},
    "training.batch_size": {"type": "categorical", "choices": [8, 16]},
}


def study_config(folder: Path, **search: Any) -> RunConfig:
    raw = tiny_config(
        folder,
        data={"max_examples": 60},
        training={"max_steps": 3, "eval_every_steps": 1},
    )
    raw["search"] = {"space": SPACE, "trials": 3, "startup_trials": 1, **search}
    return config_from_dict(raw, config_dir=str(folder))


@pytest.fixture(scope="module")
def finished_study(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, list[tuple]]]:
    """A 3-trial study, with every split the pipeline scored recorded with the phase it was in."""
    folder = tmp_path_factory.mktemp("study")
    scored: list[tuple[str, str]] = []
    phase = {"now": "trials"}
    score = tuneforge.pipeline.evaluate_model
    run_best = tuneforge.tune.study._run_best

    def spy_score(model, task, data, split, *args, **kwargs):
        scored.append((phase["now"], split))
        return score(model, task, data, split, *args, **kwargs)

    def spy_run_best(*args, **kwargs):
        phase["now"] = "best run"
        return run_best(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(tuneforge.pipeline, "evaluate_model", spy_score)
        patch.setattr(tuneforge.tune.study, "_run_best", spy_run_best)
        result = run_study(study_config(folder), folder / "study", show_progress=False)
    yield result, scored


def test_study_runs_its_trials_and_saves_the_best_as_a_run(finished_study) -> None:
    result, _ = finished_study
    summary = json.loads((result.study_dir / layout.SUMMARY_JSON).read_text())
    assert summary["counts"]["complete"] == 3
    assert [row["number"] for row in summary["trials"]] == [0, 1, 2]
    # Trial 0 is the config's own values: the study shows what the search gained over it.
    assert summary["trials"][0]["params"] == {
        "training.learning_rate": 1e-4,
        "training.batch_size": 16,
    }
    best = summary["best"]
    assert best["number"] == result.best_trial
    assert best["value"] == max(row["value"] for row in summary["trials"])
    assert best["test"]["num_examples"] > 0
    run_metrics = json.loads((result.best_run_dir / "metrics.json").read_text())
    assert run_metrics["test"]["macro_f1"] == pytest.approx(best["test"]["macro_f1"])
    for trial in range(3):
        saved = json.loads((layout.trial_dir(result.study_dir, trial) / "trial.json").read_text())
        assert saved["state"] == "complete"
        assert saved["validation"]["macro_f1"] == summary["trials"][trial]["value"]
    assert (result.study_dir / layout.PLOTS_DIR / "history.png").stat().st_size > 10_000
    assert (result.study_dir / layout.PLOTS_DIR / "history.html").is_file()
    assert (
        "| trial | state | training.learning_rate"
        in (result.study_dir / layout.SUMMARY_MD).read_text()
    )


def test_study_trials_never_score_the_test_split(finished_study) -> None:
    _, scored = finished_study
    during_trials = {split for phase, split in scored if phase == "trials"}
    assert during_trials == {"validation"}
    assert ("best run", "test") in scored  # scored once, for the best trial, at the end
    assert [s for s in scored if s[1] == "test"] == [("best run", "test")]


def test_study_pruning_stops_a_trial_at_its_first_report(tmp_path: Path) -> None:
    import optuna

    config = study_config(tmp_path)
    objective = objective_of(config)
    study = optuna.create_study(
        direction="maximize",
        # Every macro-F1 is below 2: the pruner stops each trial at its first report.
        pruner=optuna.pruners.ThresholdPruner(lower=2.0),
    )
    runner = TrialRunner(config, tmp_path, objective, prune=True)
    study.optimize(runner, n_trials=1)
    trial = study.trials[0]
    assert trial.state == optuna.trial.TrialState.PRUNED
    assert list(trial.intermediate_values) == [1]  # one evaluation of max_steps 3
    saved = json.loads((layout.trial_dir(tmp_path, 0) / "trial.json").read_text())
    assert saved["state"] == "pruned"


def test_study_folder_in_the_way_needs_resume_or_overwrite(tmp_path: Path) -> None:
    (tmp_path / "study").mkdir()
    (tmp_path / "study" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="--resume continues it, --overwrite"):
        run_study(study_config(tmp_path), tmp_path / "study", show_progress=False)
    with pytest.raises(ConfigError, match="holds no study"):
        run_study(study_config(tmp_path), tmp_path / "study", resume=True, show_progress=False)
    assert (tmp_path / "study" / "notes.txt").read_text() == "mine"


def test_study_refuses_an_empty_space(tmp_path: Path) -> None:
    config = config_from_dict(tiny_config(tmp_path))
    with pytest.raises(ConfigError, match=r"search\.space is empty"):
        run_study(config, tmp_path / "study", show_progress=False)


def test_study_without_validation_split_is_refused(tmp_path: Path) -> None:
    raw = tiny_config(tmp_path, data={"max_examples": 60, "split": {"validation_ratio": 0.0}})
    raw["search"] = {"space": SPACE, "trials": 1}
    config = config_from_dict(raw, config_dir=str(tmp_path))
    with pytest.raises(ConfigError, match="scores trials on the validation split"):
        run_study(config, tmp_path / "study", show_progress=False)


def test_study_storage_reopens_with_the_same_trials(finished_study) -> None:
    result, _ = finished_study
    from tuneforge.config import load_config

    config = load_config(result.study_dir / layout.CONFIG_FILE)
    study = open_study(config, result.study_dir, objective_of(config))
    assert len(study.trials) == 3
    assert study.trials[0].params["training.batch_size"] == 16


def test_study_without_optuna_names_the_extra(tmp_path: Path, monkeypatch) -> None:
    import sys

    from tuneforge.errors import TuneforgeError

    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna raises ImportError
    with pytest.raises(TuneforgeError, match=r"pip install 'tuneforge\[search\]'"):
        run_study(study_config(tmp_path), tmp_path / "study", show_progress=False)


@pytest.mark.parametrize(
    ("search", "sampler", "pruner"),
    [
        ({}, "TPESampler", "MedianPruner"),
        ({"sampler": "random", "pruner": "hyperband"}, "RandomSampler", "HyperbandPruner"),
        ({"sampler": "cmaes", "pruner": "none"}, "CmaEsSampler", "NopPruner"),
        # Optuna cannot prune a multi-objective study: the pruner is off, whatever it says.
        ({"second_objective": "train_seconds"}, "TPESampler", "NopPruner"),
    ],
)
def test_study_sampler_and_pruner_follow_the_config(
    tmp_path: Path, search: dict, sampler: str, pruner: str
) -> None:
    config = study_config(tmp_path, **search)
    study = open_study(config, tmp_path, objective_of(config))
    assert type(study.sampler).__name__ == sampler
    assert type(study.pruner).__name__ == pruner


def test_study_grid_sampler_runs_at_most_the_grid(tmp_path: Path) -> None:
    from tuneforge.tune.study import trial_target

    space = {
        "training.batch_size": {"type": "categorical", "choices": [8, 16]},
        "training.epochs": {"type": "int", "low": 1, "high": 3},
    }
    config = study_config(tmp_path, sampler="grid", trials=20, space=space)
    assert trial_target(config) == 6
    assert type(open_study(config, tmp_path, objective_of(config)).sampler).__name__ == (
        "GridSampler"
    )


def test_study_tracks_trials_as_runs_nested_under_the_study(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = study_config(tmp_path, trials=2)
    config.tracking.backend = "mlflow"
    config.tracking.uri = uri
    config.tracking.system_metrics = False
    run_study(config, tmp_path / "study", show_progress=False)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("study")  # named after the study folder
    runs = {r.info.run_name: r for r in client.search_runs([experiment.experiment_id])}
    parent = runs["study"]
    children = [r for r in runs.values() if r.data.tags.get("mlflow.parentRunId")]
    assert sorted(r.info.run_name for r in children) == ["study-trial-0", "study-trial-1"]
    assert {r.data.tags["mlflow.parentRunId"] for r in children} == {parent.info.run_id}
    assert all("validation_macro_f1" in r.data.metrics for r in children)
    assert "best_test_macro_f1" in parent.data.metrics
    assert parent.info.status == "FINISHED"
    assert "best" in runs  # the re-run of the best trial is tracked like any run


def test_study_ray_backend_without_ray_names_the_extra(tmp_path: Path, monkeypatch) -> None:
    import sys

    from tuneforge.errors import TuneforgeError

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(TuneforgeError, match=r"pip install 'tuneforge\[ray-tune\]'"):
        run_study(study_config(tmp_path, backend="ray"), tmp_path / "study", show_progress=False)


def test_study_ray_backend_refuses_two_objectives(tmp_path: Path) -> None:
    pytest.importorskip("ray.tune", reason="the ray extra is not installed")
    config = study_config(tmp_path, backend="ray", second_objective="train_seconds")
    with pytest.raises(ConfigError, match=r"second_objective needs search\.backend: optuna"):
        run_study(config, tmp_path / "study", show_progress=False)


def test_study_dashboard_serves_the_study(finished_study) -> None:
    import io
    import json as json_module
    from wsgiref.util import setup_testing_defaults

    from tuneforge.tune.report import dashboard_app

    result, _ = finished_study
    environ: dict = {"PATH_INFO": "/api/studies", "REQUEST_METHOD": "GET"}
    setup_testing_defaults(environ)
    environ["wsgi.input"] = io.BytesIO()
    status: list[str] = []
    body = b"".join(
        dashboard_app(result.study_dir)(environ, lambda code, headers, *_: status.append(code))
    )
    assert status == ["200 OK"]
    studies = json_module.loads(body)["study_summaries"]
    assert [s["study_name"] for s in studies] == [layout.STUDY_NAME]
