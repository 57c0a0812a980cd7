"""One trial: the run config with the trial's values, fine-tuned in memory, scored on validation.

A trial never sees the test split: it is removed from the prepared data before training, so no
code path of a trial can score it (the study scores it once, for the best trial, at the end).
Prepared data is cached across trials whose data, model and task sections agree: a search over
training settings loads and tokenises the corpus once.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneforge._atomic import write_json_atomic
from tuneforge.config import RunConfig, save_config
from tuneforge.errors import ConfigError
from tuneforge.tune import layout
from tuneforge.tune.space import config_with, suggest

if TYPE_CHECKING:
    from tuneforge.pipeline import PreparedData


@dataclasses.dataclass(frozen=True)
class Objective:
    """What a study optimises: a validation metric, and optionally a cost to minimise."""

    metric: str
    higher_is_better: bool
    second: str | None = None

    @property
    def directions(self) -> list[str]:
        first = "maximize" if self.higher_is_better else "minimize"
        return [first, "minimize"] if self.second else [first]


def objective_of(config: RunConfig) -> Objective:
    """The study's objective from search.metric (or training.metric_for_best, or the task's)."""
    from tuneforge.evaluate import higher_is_better
    from tuneforge.tasks import get_task

    metric = (
        config.search.metric
        or config.training.metric_for_best
        or get_task(config.task.type).default_metric
    )
    return Objective(metric, higher_is_better(metric), config.search.second_objective)


class TrialRunner:
    """The Optuna objective: call with a trial, get its validation value(s)."""

    def __init__(
        self,
        config: RunConfig,
        study_dir: Path,
        objective: Objective,
        *,
        prune: bool,
        parent_run_id: str | None = None,
    ) -> None:
        self.config = config
        self.study_dir = study_dir
        self.objective = objective
        self.prune = prune
        self.parent_run_id = parent_run_id
        """The study's tracked run: each trial's tracked run is nested under it."""
        self._data: dict[str, PreparedData] = {}

    def __call__(self, trial: Any) -> float | tuple[float, float]:
        import optuna

        from tuneforge.tracking import open_tracker, tracked

        values = suggest(trial, self.config.search.space)
        trial_config = config_with(self.config, values)
        folder = layout.trial_dir(self.study_dir, trial.number)
        folder.mkdir(parents=True, exist_ok=True)
        save_config(trial_config, folder / "config.yaml")
        tracker = open_tracker(
            trial_config,
            folder,
            run_name=f"{self.study_dir.name}-trial-{trial.number}",
            parent_run_id=self.parent_run_id,
        )
        with tracked(tracker, killed_by=(KeyboardInterrupt, optuna.TrialPruned)):
            return self._train(trial, trial_config, folder, values, tracker)

    def _train(
        self,
        trial: Any,
        trial_config: RunConfig,
        folder: Path,
        values: dict[str, Any],
        tracker: Any,
    ) -> float | tuple[float, float]:
        import optuna

        from tuneforge.adapt import count_parameters
        from tuneforge.evaluate import scalar_metrics
        from tuneforge.pipeline import build_model, fine_tune
        from tuneforge.tracking import HistoryLogger
        from tuneforge.training import TrainingHooks, TrainingInterrupted

        data = self.prepared(trial_config)
        model = build_model(trial_config, data)
        trainable, _ = count_parameters(model)
        history = HistoryLogger(tracker)
        hooks = TrainingHooks(after_optimizer_step=[history], on_evaluate=[history])
        if self.prune:
            hooks.on_evaluate.append(self._pruning_hook(trial))
        started = time.perf_counter()
        record: dict[str, Any] = {"number": trial.number, "params": values}
        try:
            result = fine_tune(
                model, data.task, data, trial_config, hooks=hooks, show_progress=False
            )
        except TrainingInterrupted:
            trial.set_user_attr("interrupted", True)  # `tune --resume` runs these values again
            raise
        except optuna.TrialPruned:
            record.update(state="pruned", seconds=time.perf_counter() - started)
            write_json_atomic(record, folder / "trial.json")
            raise
        seconds = time.perf_counter() - started
        history.flush(result.state.history)
        validation = scalar_metrics(result.validation or {})
        if self.objective.metric not in validation:
            raise ConfigError(
                f"search.metric {self.objective.metric!r} is not a validation metric of the "
                f"{data.task.name} task; choose one of: {', '.join(sorted(validation))}."
            )
        tracker.log_metrics(
            {f"validation_{name}": value for name, value in validation.items()},
            result.state.global_step,
        )
        value = validation[self.objective.metric]
        costs = {"trainable_parameters": float(trainable), "train_seconds": seconds}
        record.update(
            state="complete",
            seconds=seconds,
            validation=validation,
            trainable_parameters=trainable,
            steps=result.state.global_step,
            stopped_early=result.state.stopped_early,
        )
        write_json_atomic(record, folder / "trial.json")
        trial.set_user_attr("validation", validation)
        trial.set_user_attr("trainable_parameters", trainable)
        if self.objective.second:
            return value, costs[self.objective.second]
        return value

    def prepared(self, config: RunConfig) -> PreparedData:
        """The trial's data with the test split removed, prepared once per data/model/task."""
        from tuneforge.pipeline import prepare_data

        key = json.dumps(
            config.model_dump(mode="json", include={"data", "model", "task"}), sort_keys=True
        )
        if key not in self._data:
            data = prepare_data(config)
            if not data.records("validation"):
                raise ConfigError(
                    "A search scores trials on the validation split, and this config has none: "
                    "set data.split.validation_ratio above 0 or data.validation_source."
                )
            self._data[key] = without_test_split(data)
        return self._data[key]

    def _pruning_hook(self, trial: Any) -> Any:
        """An on_evaluate hook: report the validation metric; stop the trial when pruned."""
        metric = f"eval_{self.objective.metric}"

        def report(context: Any) -> None:
            import optuna

            value = context.state.history[-1].get(metric)
            if value is None:
                return
            trial.report(value, context.state.global_step)
            if trial.should_prune():
                raise optuna.TrialPruned(
                    f"{metric} {value:.4f} at step {context.state.global_step}"
                )

        return report


def without_test_split(data: PreparedData) -> PreparedData:
    """The prepared data less its test split: records and features both emptied."""
    return dataclasses.replace(
        data,
        splits=dataclasses.replace(data.splits, test=[]),
        features={**data.features, "test": []},
    )
