"""What every config section shares: unknown keys are errors, assignments are validated; and
the task and label vocabularies the sections use."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

TaskType = Literal["classification", "multilabel", "regression", "ner"]
LabelKind = Literal["class", "class_set", "number", "tags"]
"""The shape of a label as the data stage reads and checks it: one class name, a set of class
names, a number, or one IOB2 tag per token."""
_LABEL_KINDS: dict[str, LabelKind] = {
    "classification": "class",
    "multilabel": "class_set",
    "regression": "number",
    "ner": "tags",
}


def label_kind_of(task_type: str) -> LabelKind:
    """The label shape a task type reads (the data stage branches on this, not on task names)."""
    return _LABEL_KINDS[task_type]


AdaptationMethod = Literal["full", "lora", "adalora", "ia3", "prefix", "prompt", "bottleneck"]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)
