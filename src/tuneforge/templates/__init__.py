"""Commented starter configs written by `tuneforge init`, one per task (validated by a test)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import get_args

from tuneforge.config import TaskType
from tuneforge.errors import ConfigError

TASK_TEMPLATES: tuple[str, ...] = get_args(TaskType)


def starter_config_text(task: str) -> str:
    if task not in TASK_TEMPLATES:
        raise ConfigError(
            f"--task {task!r} is not a task; choose one of: {', '.join(TASK_TEMPLATES)}."
        )
    return resources.files(__package__).joinpath(f"{task}.yaml").read_text(encoding="utf-8")


def write_starter_config(task: str, output: Path, force: bool = False) -> None:
    text = starter_config_text(task)
    if output.exists() and not force:
        raise ConfigError(f"{output} exists already; pass --force to overwrite it.")
    output.write_text(text, encoding="utf-8")
