"""Built-in datasets derived from the shipped ones, so that every task has real data to run on.

- ``builtin:wnut16-entity-types`` (multilabel): each WNUT-16 tweet that mentions at least one
  entity, labelled with the set of entity types it mentions (tweets without any are left out:
  an empty label set says nothing about which types are present).
- ``builtin:bbc-news-length`` (regression): each BBC News article, with the natural log of its
  word count as the target; a model sees only the first max_seq_length tokens, so it must infer
  the length from style and topic (long-form politics vs short sports reports).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import get_args

from tuneforge.config import LabelKind, RunConfig, TaskType, label_kind_of
from tuneforge.data.records import QuarantinedRow, Record


def _entity_types(records: list[Record]) -> list[Record]:
    derived = []
    for record in records:
        kinds = sorted({tag[2:] for tag in record.label if tag != "O"})
        if kinds:
            derived.append(Record(text=record.text, label=tuple(kinds), source=record.source))
    return derived


def _log_word_count(records: list[Record]) -> list[Record]:
    return [
        Record(text=record.text, label=math.log(len(record.text.split())), source=record.source)
        for record in records
    ]


@dataclass(frozen=True)
class DerivedDataset:
    base: str
    base_kind: LabelKind
    """The label shape the base dataset is read with."""
    derive: Callable[[list[Record]], list[Record]]
    kind: LabelKind
    """The label shape of the derived records."""


DERIVED_DATASETS = {
    "wnut16-entity-types": DerivedDataset("wnut16", "tags", _entity_types, "class_set"),
    "bbc-news-length": DerivedDataset("bbc-news", "class", _log_word_count, "number"),
}


def load_derived(
    name: str, config: RunConfig, role: str
) -> tuple[list[Record], list[QuarantinedRow]]:
    from tuneforge.data.load import load_records

    dataset = DERIVED_DATASETS[name]
    base_config = config.model_copy(deep=True)
    # The base dataset is read as the task whose labels have its shape (tags for WNUT-16).
    base_config.task.type = next(
        t for t in get_args(TaskType) if label_kind_of(t) == dataset.base_kind
    )
    base_config.data.format = "auto"
    records, quarantined = load_records(f"builtin:{dataset.base}", base_config, role)
    return dataset.derive(records), quarantined
