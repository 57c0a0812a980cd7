"""The search space: sampling a trial's values and applying them to the run config.

The space is declared in the config (`search.space`, validated at load by tuneforge.config); this
module turns it into Optuna distributions and back into a RunConfig per trial.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from tuneforge.config import ParameterSpace, RunConfig, config_from_dict
from tuneforge.errors import ConfigError


def suggest(trial: Any, space: dict[str, ParameterSpace]) -> dict[str, Any]:
    """One value per searched key, drawn by the study's sampler through `trial.suggest_*`."""
    values: dict[str, Any] = {}
    for key, spec in space.items():
        if spec.type == "categorical":
            values[key] = trial.suggest_categorical(key, spec.choices)
        elif spec.type == "int":
            step = int(spec.step or 1)
            values[key] = trial.suggest_int(key, int(spec.low), int(spec.high), step=step)
        else:
            values[key] = trial.suggest_float(
                key, spec.low, spec.high, log=spec.type == "loguniform", step=spec.step
            )
    return values


def config_with(config: RunConfig, values: dict[str, Any]) -> RunConfig:
    """A copy of `config` with each dotted key set to its value (the search section emptied: a
    trial's config is a plain run config)."""
    raw = config.model_dump(mode="json", exclude={"search"})
    for key, value in values.items():
        node = raw
        *sections, name = key.split(".")
        for section in sections:
            node = node[section]
        node[name] = copy.deepcopy(value)
    return config_from_dict(raw, source="search trial", config_dir=config.config_dir)


def base_values(config: RunConfig) -> dict[str, Any]:
    """The config's own value of every searched key that the space contains (the baseline
    trial); keys whose own value lies outside the space are left to the sampler."""
    raw = config.model_dump(mode="json")
    values = {}
    for key, spec in config.search.space.items():
        node: Any = raw
        for part in key.split("."):
            node = node[part]
        if _contains(spec, node):
            values[key] = node
    return values


def grid(space: dict[str, ParameterSpace]) -> dict[str, list[Any]]:
    """Every value of every key, for the grid sampler: categorical choices, or stepped ranges."""
    values: dict[str, list[Any]] = {}
    for key, spec in space.items():
        if spec.type == "categorical":
            values[key] = list(spec.choices or [])
        elif spec.step is not None or spec.type == "int":
            step = spec.step or 1
            count = round((float(spec.high) - float(spec.low)) / step) + 1
            points = [float(spec.low) + i * step for i in range(count)]
            values[key] = [int(p) for p in points] if spec.type == "int" else points
        else:
            raise ConfigError(
                f"search.space.{key}: the grid sampler needs choices or a step; a "
                f"{spec.type} range has infinitely many values. Add step: or use sampler: tpe."
            )
    return values


def _contains(spec: ParameterSpace, value: Any) -> bool:
    if spec.type == "categorical":
        return value in (spec.choices or [])
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    if not float(spec.low) <= value <= float(spec.high):
        return False
    if spec.step is not None or spec.type == "int":
        offset = (value - float(spec.low)) / (spec.step or 1)
        return abs(offset - round(offset)) < 1e-9
    return True


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)?\s*$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """Seconds in '90', '90s', '45m', '2h' or '1.5d'."""
    match = _DURATION.match(text)
    if not match:
        raise ConfigError(f"--timeout {text!r}: expected a number of seconds or 90s, 45m, 2h, 1d.")
    return float(match.group(1)) * _SECONDS[match.group(2) or "s"]
