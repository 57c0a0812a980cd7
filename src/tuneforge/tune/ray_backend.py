"""The Ray Tune backend of `tuneforge tune` (search.backend: ray): Optuna's sampler through Ray's
`OptunaSearch`, ASHA (Li et al. 2020) stopping trials that trail, and Ray placing the trials on
the cores (or the machines) of a Ray cluster (`--ray-address`).

The trials are the same as the Optuna backend's (a trial config fine-tuned in memory, scored on
validation, the test split removed); only the scheduling differs. Ray's results are written into
the study's Optuna storage afterwards, so the summary, plots, `tune-report` and the best run are
shared by both backends.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tuneforge.config import ParameterSpace, RunConfig, load_config
from tuneforge.errors import ConfigError, TuneforgeError
from tuneforge.tune import layout
from tuneforge.tune.objective import Objective, objective_of
from tuneforge.tune.space import base_values

RAY_DIR = "ray"
"""Ray Tune's experiment folder inside the study folder (what `--resume` restores)."""
METRIC = "objective"
"""The name under which trials report the study's metric to Ray."""


def require_ray() -> Any:
    try:
        import ray
        from ray import tune  # noqa: F401
        from ray.tune.search.optuna import OptunaSearch  # noqa: F401
    except ImportError as exc:
        raise TuneforgeError(
            "search.backend: ray needs Ray Tune: pip install 'tuneforge[ray-tune]'."
        ) from exc
    return ray


def distributions(space: dict[str, ParameterSpace]) -> dict[str, Any]:
    """The search space as Optuna distributions (what OptunaSearch and the storage take)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    result: dict[str, Any] = {}
    for key, spec in space.items():
        if spec.type == "categorical":
            result[key] = CategoricalDistribution(spec.choices or [])
        elif spec.type == "int":
            result[key] = IntDistribution(int(spec.low), int(spec.high), step=int(spec.step or 1))
        else:
            result[key] = FloatDistribution(
                spec.low, spec.high, log=spec.type == "loguniform", step=spec.step
            )
    return result


def run_ray_trials(
    config: RunConfig, study_dir: Path, objective: Objective, *, resume: bool, address: str | None
) -> None:
    """Run the study's trials on Ray, then record them in the study's Optuna storage."""
    ray = require_ray()
    if objective.second is not None:
        raise ConfigError(
            "search.second_objective needs search.backend: optuna (Ray's ASHA scheduler stops "
            "trials on one metric)."
        )
    if config.search.sampler != "tpe":
        raise ConfigError("search.backend: ray samples with TPE; set search.sampler: tpe.")
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    from tuneforge.inference import physical_cores
    from tuneforge.tune.study import open_study, trial_target

    mode = "max" if objective.higher_is_better else "min"
    search = OptunaSearch(
        space=distributions(config.search.space),
        metric=METRIC,
        mode=mode,
        points_to_evaluate=[base_values(config)] if config.search.include_base_config else None,
        seed=config.search.seed,
    )
    scheduler = (
        ASHAScheduler(metric=METRIC, mode=mode, grace_period=1)
        if config.search.pruner != "none"
        else None
    )
    threads = max(1, physical_cores() // config.search.jobs)
    trainable = tune.with_resources(
        tune.with_parameters(_ray_trial, study_dir=str(study_dir.resolve())), {"cpu": threads}
    )
    experiment = study_dir.resolve() / RAY_DIR
    ray.init(
        address=address,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        ignore_reinit_error=True,
    )
    try:
        if resume and tune.Tuner.can_restore(str(experiment / "study")):
            tuner = tune.Tuner.restore(
                str(experiment / "study"), trainable, resume_errored=True, restart_errored=False
            )
        else:
            tuner = tune.Tuner(
                trainable,
                tune_config=tune.TuneConfig(
                    search_alg=search,
                    scheduler=scheduler,
                    num_samples=trial_target(config),
                    max_concurrent_trials=config.search.jobs,
                    time_budget_s=config.search.timeout,
                ),
                # verbose 1: Ray's own live table of trials (the storage fills only at the end).
                run_config=tune.RunConfig(name="study", storage_path=str(experiment), verbose=1),
            )
        results = tuner.fit()
    finally:
        ray.shutdown()
    _record(results, open_study(config, study_dir, objective), config, objective)


def _ray_trial(params: dict[str, Any], study_dir: str) -> None:
    """One Ray trial: the TrialRunner's training with Ray reports instead of Optuna's."""
    from ray import tune

    from tuneforge._process import run_settings
    from tuneforge.evaluate import scalar_metrics
    from tuneforge.pipeline import build_model, fine_tune
    from tuneforge.training import TrainingHooks
    from tuneforge.tune.objective import TrialRunner
    from tuneforge.tune.space import config_with

    config = load_config(Path(study_dir) / layout.CONFIG_FILE)
    objective = objective_of(config)
    trial_config = config_with(config, params)
    metric = f"eval_{objective.metric}"

    def report(context: Any) -> None:
        value = context.state.history[-1].get(metric)
        if value is not None:
            tune.report({METRIC: value, "step": context.state.global_step})

    with run_settings(None):
        data = TrialRunner(config, Path(study_dir), objective, prune=False).prepared(trial_config)
        model = build_model(trial_config, data)
        result = fine_tune(
            model,
            data.task,
            data,
            trial_config,
            hooks=TrainingHooks(on_evaluate=[report]),
            show_progress=False,
        )
    validation = scalar_metrics(result.validation or {})
    # The tuned validation metrics (multilabel thresholds) are the trial's final value.
    tune.report(
        {METRIC: validation[objective.metric], "step": result.state.global_step, "final": 1}
    )


def _record(results: Any, study: Any, config: RunConfig, objective: Objective) -> None:
    """Ray's trials as finished trials of the Optuna study (replacing any recorded before)."""
    import optuna
    from optuna.trial import TrialState

    spaces = distributions(config.search.space)
    recorded = {tuple(sorted(t.params.items())) for t in study.get_trials(deepcopy=False)}
    for result in results:
        params = {key: result.config[key] for key in spaces if key in result.config}
        if tuple(sorted(params.items())) in recorded:
            continue
        history = result.metrics_dataframe
        reports = {}
        if history is not None and METRIC in history:
            final = history["final"] if "final" in history else [math.nan] * len(history)
            for step, value, last in zip(history["step"], history[METRIC], final, strict=True):
                if last != 1:  # evaluations during training, not the closing report
                    reports[int(step)] = float(value)
        finished = bool(result.metrics.get("final")) and result.error is None
        value = result.metrics.get(METRIC)
        state = (
            TrialState.COMPLETE
            if finished and value is not None and not math.isnan(value)
            else TrialState.FAIL
            if result.error is not None
            else TrialState.PRUNED
        )
        study.add_trial(
            optuna.trial.create_trial(
                params=params,
                distributions=spaces,
                value=value if state == TrialState.COMPLETE else None,
                state=state,
                intermediate_values=reports,
                user_attrs={
                    "ray_trial": Path(result.path).name,
                    "seconds": float(result.metrics.get("time_total_s", 0.0)),
                },
            )
        )
