"""`tuneforge tune`: an Optuna study over a run config, then the best trial as a normal run.

Optuna is the engine (samplers, pruners, SQLite storage, importance); tuneforge supplies the
objective (an in-memory `pipeline.fine_tune` scored on validation), the live table, the report
and the final run. Parallel trials are separate processes sharing the SQLite storage, each with
cores / jobs threads: one process per trial keeps torch's thread pools and accelerate's state
apart, which threads in one process would not.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneforge._atomic import write_json_atomic
from tuneforge._process import run_settings
from tuneforge.config import RunConfig, load_config, save_config
from tuneforge.console import console
from tuneforge.errors import ConfigError, TuneforgeError
from tuneforge.evaluate import scalar_metrics
from tuneforge.tracking import open_tracker, tracked
from tuneforge.tune import layout
from tuneforge.tune.objective import Objective, TrialRunner, objective_of
from tuneforge.tune.space import base_values, config_with, grid

FINISHED_STATES = ("COMPLETE", "PRUNED")


@dataclass
class StudyResult:
    study_dir: Path
    best_trial: int
    best_params: dict[str, Any]
    best_validation: float
    best_run_dir: Path
    test_metrics: dict[str, Any]


def require_optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise TuneforgeError(
            "Hyper-parameter search needs Optuna: pip install 'tuneforge[search]'."
        ) from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def run_study(
    config: RunConfig,
    study_dir: Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> StudyResult:
    """Run (or resume) the study the config's search section describes; re-run the best trial
    into `<study_dir>/best` and score it on the test split once.

    Raises:
        ConfigError: no search space, a study folder in the way, an invalid space for the sampler.
    """
    require_optuna()
    if not config.search.space:
        raise ConfigError(
            "search.space is empty: name the config keys to vary, e.g.\n"
            "search:\n  space:\n    training.learning_rate: {type: loguniform, low: 1.0e-5, "
            "high: 5.0e-4}"
        )
    _prepare_study_dir(study_dir, resume=resume, overwrite=overwrite)
    if config.privacy.enabled:
        # Each trial's epsilon covers that trial alone; choosing among trials by their
        # validation scores leaks more (Papernot & Steinke, 2022).
        console.print(
            "[yellow]privacy: every trial spends its own epsilon on the same rows and the search "
            "picks among them: the study as a whole is less private than any one trial's "
            "epsilon says. Tune on public or synthetic data where you can.[/]"
        )
    config = config.model_copy(deep=True)
    if config.tracking.backend != "none" and config.tracking.experiment is None:
        config.tracking.experiment = study_dir.name  # the study and its trials side by side
    save_config(config, study_dir / layout.CONFIG_FILE)
    objective = objective_of(config)
    study = open_study(config, study_dir, objective)
    if resume:
        _requeue_interrupted(study)
    elif config.search.include_base_config and config.search.backend == "optuna":
        study.enqueue_trial(base_values(config), skip_if_exists=True)  # Ray: points_to_evaluate
    tracker = open_tracker(config, study_dir, run_name=study_dir.name)
    with tracked(tracker):
        return _search_then_best_run(
            study, config, study_dir, objective, tracker, resume, show_progress
        )


def _search_then_best_run(
    study: Any,
    config: RunConfig,
    study_dir: Path,
    objective: Objective,
    tracker: Any,
    resume: bool,
    show_progress: bool,
) -> StudyResult:
    from tuneforge.tune.report import best_trial, write_report

    (study_dir / layout.TRACKING_PARENT_FILE).write_text(tracker.run_id or "", encoding="utf-8")
    target = trial_target(config)
    if config.search.backend == "ray":
        from tuneforge.tune.ray_backend import run_ray_trials

        run_ray_trials(
            config, study_dir, objective, resume=resume, address=config.search.ray_address
        )
    else:
        _optuna_trials(study, config, study_dir, objective, tracker, target, show_progress)
    summary = write_report(study, study_dir, objective, config)

    best = best_trial(study, objective)
    if best is None:
        raise TuneforgeError(
            f"No trial of the study in {study_dir} completed; see {layout.SUMMARY_MD}."
        )
    console.print(
        f"Best trial {best.number}: {objective.metric} {best.values[0]:.4f}; "
        f"re-running it into {study_dir / layout.BEST_RUN} for the test split"
    )
    best_run = _run_best(config, study_dir, best.params)
    summary["best"]["test"] = best_run.metrics
    write_json_atomic(summary, study_dir / layout.SUMMARY_JSON)
    tracker.log_metrics(
        {
            f"best_validation_{objective.metric}": best.values[0],
            **{f"best_test_{k}": v for k, v in scalar_metrics(best_run.metrics).items()},
        },
        best.number,
    )
    plots = sorted((study_dir / layout.PLOTS_DIR).glob("*.png"))
    tracker.log_artifacts([study_dir / layout.SUMMARY_MD, study_dir / layout.SUMMARY_JSON, *plots])
    return StudyResult(
        study_dir, best.number, best.params, best.values[0], best_run.run_dir, best_run.metrics
    )


def _optuna_trials(
    study: Any,
    config: RunConfig,
    study_dir: Path,
    objective: Objective,
    tracker: Any,
    target: int,
    show_progress: bool,
) -> None:
    from tuneforge.tune.progress import StudyProgress

    progress = StudyProgress(study, target, objective, config.search, enabled=show_progress)
    with progress:
        if config.search.jobs == 1:
            with run_settings(config.training.num_threads):
                optimize(study, config, study_dir, objective, target, tracker.run_id)
        else:
            _run_workers(study_dir, config.search.jobs)


def open_study(config: RunConfig, study_dir: Path, objective: Objective) -> Any:
    """The study in the folder's SQLite storage (created if new), with the configured sampler
    and pruner."""
    optuna = require_optuna()
    storage = optuna.storages.RDBStorage(
        layout.storage_url(study_dir),
        # Parallel trial processes write to one SQLite file: wait for its lock, don't fail.
        engine_kwargs={"connect_args": {"timeout": 60}},
    )
    return optuna.create_study(
        study_name=layout.STUDY_NAME,
        storage=storage,
        load_if_exists=True,
        directions=objective.directions,
        sampler=_sampler(config),
        pruner=_pruner(config, objective),
    )


def optimize(
    study: Any,
    config: RunConfig,
    study_dir: Path,
    objective: Objective,
    target: int,
    parent_run_id: str | None = None,
) -> None:
    """Run trials in this process until `target` trials of the study finished or the timeout."""
    optuna = require_optuna()
    if _finished(study) >= target:
        return
    runner = TrialRunner(
        config,
        study_dir,
        objective,
        prune=prunes(config, objective),
        parent_run_id=parent_run_id,
    )
    study.optimize(
        runner,
        timeout=config.search.timeout,
        callbacks=[optuna.study.MaxTrialsCallback(target, states=_states(FINISHED_STATES))],
        gc_after_trial=True,
    )


def trial_target(config: RunConfig) -> int:
    """search.trials, or fewer when a grid has fewer points."""
    if config.search.sampler != "grid":
        return config.search.trials
    points = 1
    for values in grid(config.search.space).values():
        points *= len(values)
    return min(config.search.trials, points)


def prunes(config: RunConfig, objective: Objective) -> bool:
    """Optuna prunes single-objective studies only."""
    return config.search.pruner != "none" and objective.second is None


def default_study_dir(config: RunConfig, config_path: Path) -> Path:
    return Path(config.output.dir) / f"{config.output.run_name or config_path.stem}-study"


def _sampler(config: RunConfig) -> Any:
    optuna = require_optuna()
    search = config.search
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=search.seed)
    if search.sampler == "grid":
        return optuna.samplers.GridSampler(grid(search.space), seed=search.seed)
    if search.sampler == "cmaes":
        try:
            import cmaes  # noqa: F401
        except ImportError as exc:
            raise ConfigError(
                "search.sampler: cmaes needs the cmaes package: pip install 'tuneforge[search]'."
            ) from exc
        return optuna.samplers.CmaEsSampler(
            seed=search.seed, n_startup_trials=search.startup_trials
        )
    return optuna.samplers.TPESampler(seed=search.seed, n_startup_trials=search.startup_trials)


def _pruner(config: RunConfig, objective: Objective) -> Any:
    optuna = require_optuna()
    if not prunes(config, objective):
        return optuna.pruners.NopPruner()
    if config.search.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner()
    return optuna.pruners.MedianPruner(n_startup_trials=config.search.startup_trials)


def _states(names: tuple[str, ...]) -> tuple[Any, ...]:
    from optuna.trial import TrialState

    return tuple(TrialState[name] for name in names)


def _finished(study: Any) -> int:
    return len(study.get_trials(deepcopy=False, states=_states(FINISHED_STATES)))


def _prepare_study_dir(study_dir: Path, *, resume: bool, overwrite: bool) -> None:
    storage = study_dir / layout.STORAGE_FILE
    if resume:
        if not storage.is_file():
            raise ConfigError(f"--resume: {study_dir} holds no study ({layout.STORAGE_FILE}).")
        return
    if study_dir.exists() and any(study_dir.iterdir()):
        if not overwrite:
            raise ConfigError(
                f"{study_dir} already holds a study: --resume continues it, --overwrite "
                "deletes it first."
            )
        shutil.rmtree(study_dir)
    study_dir.mkdir(parents=True, exist_ok=True)


def _requeue_interrupted(study: Any) -> None:
    """Trials cut short (left RUNNING by a killed process, or failed by Ctrl-C) are failed and
    their values queued again, once: values already queued or tried later are not repeated."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    for trial in trials:
        if trial.state == TrialState.RUNNING:
            study._storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        elif not (trial.state == TrialState.FAIL and trial.user_attrs.get("interrupted")):
            continue
        later = [t for t in trials if t.number > trial.number]
        if trial.params and not any(t.params == trial.params for t in later):
            study.enqueue_trial(trial.params, skip_if_exists=False)


def _run_workers(study_dir: Path, jobs: int) -> None:
    """`jobs` worker processes on the shared storage; their output goes to workers/<i>.log."""
    logs = study_dir / "workers"
    logs.mkdir(exist_ok=True)
    processes = []
    try:
        for index in range(jobs):
            log = (logs / f"{index}.log").open("w", encoding="utf-8")
            command = [sys.executable, "-m", "tuneforge.tune.worker", str(study_dir), str(jobs)]
            processes.append((subprocess.Popen(command, stdout=log, stderr=log), log))
        failed = [index for index, (process, _) in enumerate(processes) if process.wait() != 0]
    finally:
        for process, log in processes:
            if process.poll() is None:
                process.terminate()
                process.wait()
            log.close()
    if failed:
        tail = (logs / f"{failed[0]}.log").read_text(encoding="utf-8")[-2000:]
        raise TuneforgeError(f"Search worker {failed[0]} failed:\n{tail}")


def _run_best(config: RunConfig, study_dir: Path, params: dict[str, Any]) -> Any:
    from tuneforge.pipeline import run

    best = config_with(config, params)
    best.output.dir = str(study_dir)
    best.output.run_name = layout.BEST_RUN
    return run(best, overwrite=True)


def worker_main(study_dir: Path, jobs: int) -> None:
    """One worker of a parallel study: trials on cores / jobs threads until the target."""
    from tuneforge.inference import physical_cores

    config = load_config(study_dir / layout.CONFIG_FILE)
    objective = objective_of(config)
    study = open_study(config, study_dir, objective)
    threads = config.training.num_threads or max(1, physical_cores() // jobs)
    parent = (study_dir / layout.TRACKING_PARENT_FILE).read_text(encoding="utf-8") or None
    with run_settings(threads):
        optimize(study, config, study_dir, objective, trial_target(config), parent)
