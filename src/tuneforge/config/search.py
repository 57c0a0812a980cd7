"""The search section (`tuneforge tune`): the parameter space and how trials are compared."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from tuneforge.config.base import Section

SearchSampler = Literal["tpe", "random", "grid", "cmaes"]
SearchPruner = Literal["median", "hyperband", "none"]
SecondObjective = Literal["trainable_parameters", "train_seconds"]


class ParameterSpace(Section):
    """How one config key is searched: a range (uniform, loguniform, int) or a list of choices."""

    type: Literal["uniform", "loguniform", "int", "categorical"]
    low: float | None = None
    """uniform, loguniform, int: the smallest value (loguniform: above 0)."""
    high: float | None = None
    """uniform, loguniform, int: the largest value (inclusive)."""
    step: float | None = Field(None, gt=0)
    """uniform, int: a grid step (int defaults to 1); loguniform has none."""
    choices: list[Any] | None = None
    """categorical: the values to pick from (numbers, strings, booleans, null)."""

    @model_validator(mode="after")
    def _complete(self) -> ParameterSpace:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical parameter needs a non-empty list of choices")
            if self.low is not None or self.high is not None:
                raise ValueError("a categorical parameter takes choices, not low/high")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} parameter needs low and high")
        if self.choices is not None:
            raise ValueError(f"a {self.type} parameter takes low/high, not choices")
        if self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        if self.type == "loguniform" and self.low <= 0:
            raise ValueError("a loguniform parameter needs low > 0")
        if self.type == "loguniform" and self.step is not None:
            raise ValueError("a loguniform parameter has no step")
        if self.type == "int" and not (
            float(self.low).is_integer() and float(self.high).is_integer()
        ):
            raise ValueError("an int parameter needs whole low and high")
        return self

    def bounds(self) -> list[Any]:
        """The values that must be valid config values: the choices, or low and high."""
        if self.type == "categorical":
            return list(self.choices or [])
        if self.type == "int":
            return [int(self.low or 0), int(self.high or 0)]
        return [self.low, self.high]


class SearchConfig(Section):
    """Hyper-parameter search (`tuneforge tune`): what to vary and how to compare trials. Trials
    are scored on the validation split only; the test split is scored once, for the best trial."""

    space: dict[str, ParameterSpace] = Field(default_factory=dict)
    """Dotted config keys to vary, e.g. training.learning_rate: {type: loguniform, low: 1e-5,
    high: 5e-4}; adaptation.method: {type: categorical, choices: [full, lora]}."""
    trials: int = Field(20, ge=1)
    """Trials to finish (completed or pruned) in the study, counting those of a resumed study."""
    timeout: float | None = Field(None, gt=0)
    """Stop starting new trials after this many seconds (the CLI takes 90m, 2h, ...)."""
    sampler: SearchSampler = "tpe"
    """tpe (Bergstra et al. 2011), random, grid (every combination of categorical and stepped
    parameters) or cmaes (numeric spaces; needs the cmaes package)."""
    pruner: SearchPruner = "median"
    """Stop trials whose validation metric is below the median of earlier trials at the same
    step (median), or by successive halving (hyperband); none to run every trial to the end.
    Single objective only."""
    metric: str | None = None
    """The validation metric to optimise; None: training.metric_for_best or the task default."""
    second_objective: SecondObjective | None = None
    """Also minimise this (multi-objective: a Pareto front instead of one best trial)."""
    include_base_config: bool = True
    """Run the config's own values as the first trial, so the study shows what it gained."""
    startup_trials: int = Field(5, ge=0)
    """Trials before TPE models the space and before the median pruner prunes."""
    jobs: int = Field(1, ge=1)
    """Trials run at once, each in its own process on cores / jobs threads."""
    backend: Literal["optuna", "ray"] = "optuna"
    """optuna: trials in this process (or `jobs` worker processes) on one SQLite storage. ray:
    Ray Tune schedules the trials (OptunaSearch with TPE, ASHA stopping) on this machine or the
    Ray cluster at ray_address (pip install 'tuneforge[ray-tune]'); one objective only."""
    ray_address: str | None = None
    """ray: the cluster to run on (ray://head:10001 or auto); None starts Ray on this machine."""
    seed: int = 42
    """Seed of the sampler (the trials' own training.seed stays the config's)."""
