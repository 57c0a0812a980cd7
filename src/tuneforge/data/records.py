"""The in-memory form of a dataset row, shared by loading, cleaning, splitting and the tasks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# A label is a class name (classification), a tuple of class names (multilabel), a number
# (regression) or a tuple of IOB2 tags, one per token (ner).
Label = str | tuple[str, ...] | float


@dataclass(frozen=True)
class Record:
    """One example: the text, its label, and where it came from (for messages and quarantine)."""

    text: str
    label: Label | None
    source: str
    """``file:line`` (CSV/TSV/JSONL/CoNLL), ``file:row`` (Parquet) or the .txt path (folder)."""
    tokens: tuple[str, ...] | None = None
    """NER only: the words the tags refer to; ``text`` is then ``" ".join(tokens)``."""
    augmented: bool = False
    """A copy made by data.augmentation from a training row (training split only)."""


@dataclass(frozen=True)
class QuarantinedRow:
    """A row removed from the data, with the reason; written to ``quarantine.jsonl``."""

    source: str
    reason: str
    text: str | None = None
    label: Label | None = None


@dataclass
class Splits:
    train: list[Record]
    validation: list[Record]
    test: list[Record]
    quarantined: list[QuarantinedRow] = field(default_factory=list)
    sampled_from: int | None = None
    """Cleaned examples before the data.max_examples sample was drawn (None: no sampling)."""
    anonymization: dict[str, Any] | None = None
    """The anonymisation report (data/anonymize.py) when data.anonymization is enabled."""
