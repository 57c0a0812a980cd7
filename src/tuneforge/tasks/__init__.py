"""One module per task head; each exposes the same verbs, so the pipeline can stay task-agnostic.

A task module provides:
- ``AUTO_CLASS``: the transformers Auto class name of its head;
- ``label_names(train, declared)``, ``fit_metadata(train, label_names)``, ``head_config(...)``;
- ``encode(records, tokenizer, label_names, max_seq_length, metadata)`` -> features;
- ``tune_metadata(logits, records, label_names, metadata, config)`` -> metadata (validation only);
- ``compute_metrics(logits, records, features, label_names, metadata, config)`` -> dict;
- ``predict(logits, texts, features, label_names, metadata)`` -> list of JSON-able predictions.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np

from tuneforge.tasks import classification, multilabel, ner, regression

TASKS: dict[str, ModuleType] = {
    "classification": classification,
    "multilabel": multilabel,
    "regression": regression,
    "ner": ner,
}


def task_logits(task_type: str, rows: list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    """Per-example logits as the task modules take them: one (n, labels) array for sequence
    tasks, a list of (length, labels) arrays for NER."""
    if task_type == "ner":
        return rows
    return np.stack(rows) if rows else np.zeros((0, 0))


def get_task(task_type: str) -> ModuleType:
    """The module implementing a task type (validated by the config schema already)."""
    return TASKS[task_type]


__all__ = ["TASKS", "get_task", "task_logits"]
