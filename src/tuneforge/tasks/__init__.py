"""Task heads as values: each module defines one class filling in the Task protocol (base.py),
so that the pipeline, evaluation, prediction, compression and monitoring stay task-agnostic."""

from __future__ import annotations

from tuneforge.tasks import classification, multilabel, ner, regression
from tuneforge.tasks.base import Task, TaskDefaults

TASKS: dict[str, Task] = {
    module.TASK.name: module.TASK for module in (classification, multilabel, regression, ner)
}


def get_task(task_type: str) -> Task:
    """The task of a config's task.type (validated by the config schema already).

    Raises:
        ValueError: an unknown task type (a tuneforge.json written by a newer version).
    """
    try:
        return TASKS[task_type]
    except KeyError:
        raise ValueError(
            f"unknown task type {task_type!r}; this tuneforge knows {', '.join(TASKS)}"
        ) from None


__all__ = ["TASKS", "Task", "TaskDefaults", "get_task"]
