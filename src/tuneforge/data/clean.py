"""Clean loaded records: normalise text, then quarantine what would mislead training.

Steps, in order: Unicode NFKC and whitespace normalisation; labels outside ``data.labels``;
texts seen with conflicting labels; exact duplicates; classes too small to stratify. Nothing is
dropped silently: every removed row comes back as a QuarantinedRow with its reason.
"""

from __future__ import annotations

import logging
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import replace

from tuneforge.config import CleaningConfig, RunConfig
from tuneforge.data.quarantine import (
    EMPTY_TEXT,
    conflict_reason,
    duplicate_reason,
    small_class_reason,
    undeclared_reason,
)
from tuneforge.data.records import Label, QuarantinedRow, Record
from tuneforge.errors import DataError

logger = logging.getLogger(__name__)

Cleaned = tuple[list[Record], list[QuarantinedRow]]


def clean_records(records: list[Record], config: RunConfig) -> Cleaned:
    """Apply ``config.data.cleaning`` and ``config.data.labels`` to ``records``.

    Duplicates and conflicts compare the normalised text (for NER: the normalised sentence),
    so "Café" and "Cafe\u0301" or "ＡＢＣ" and "ABC" count as the same text.

    Returns:
        The kept records in input order, and the quarantined rows (grouped by step).
    """
    cleaning = config.data.cleaning
    kind = config.task.label_kind
    kept, quarantined = [], []
    spelling = None
    if cleaning.merge_label_case and kind in ("class", "class_set"):
        spelling = _label_spelling(config.data.labels)
    for record in records:
        record = normalize_record(record, cleaning)
        if spelling is not None and record.label is not None:
            record = replace(record, label=spelling(record.label))
        if record.text:
            kept.append(record)
        else:
            quarantined.append(_quarantine(record, EMPTY_TEXT))
    kept = _named_label_ids(kept, config.data.labels, kind)
    kept, removed = _drop_undeclared(kept, config.data.labels, kind)
    quarantined.extend(removed)
    if cleaning.drop_conflicts:
        kept, removed = _drop_conflicts(kept)
        quarantined.extend(removed)
    if cleaning.drop_duplicates:
        kept, removed = _drop_duplicates(kept)
        quarantined.extend(removed)
    if kind in ("class", "class_set"):
        kept, removed = _drop_small_classes(kept, cleaning.min_examples_per_class)
        quarantined.extend(removed)
    return kept, quarantined


def _named_label_ids(records: list[Record], declared: list[str] | None, kind: str) -> list[Record]:
    """Class labels written as ids 0..n-1 (what a dataset's class feature exports), named by
    data.labels in order: only when no label is one of the declared names and every label is
    such an id, so a file of names is never renamed."""
    if not declared or kind != "class" or not records:
        return records
    labels = {record.label for record in records}
    if labels & set(declared) or not all(
        isinstance(label, str) and label.isdigit() and int(label) < len(declared)
        for label in labels
    ):
        return records
    mapping = {label: declared[int(label)] for label in labels}
    logger.warning(
        "The labels are ids 0-%d, none of data.labels' names: named by data.labels in order (%s).",
        len(declared) - 1,
        ", ".join(f"{label} -> {mapping[label]}" for label in sorted(mapping, key=int)),
    )
    return [replace(record, label=mapping[record.label]) for record in records]


def _label_spelling(declared: list[str] | None) -> Callable[[Label], Label]:
    """One spelling per class name whatever its letter case: the declared one, else lower
    case (the same in every file, so train and test files agree)."""
    by_fold = {name.casefold(): name for name in declared or []}

    def spell(name: str) -> str:
        return by_fold.get(name.casefold(), name.lower())

    def spelling(label: Label) -> Label:
        if isinstance(label, tuple):
            return tuple(sorted({spell(item) for item in label}))
        return spell(label) if isinstance(label, str) else label

    return spelling


def normalize_text(text: str, cleaning: CleaningConfig) -> str:
    """NFKC (full-width letters, ligatures) and whitespace runs to one space, as configured."""
    if cleaning.normalize_unicode:
        text = unicodedata.normalize("NFKC", text)
    if cleaning.collapse_whitespace:
        text = " ".join(text.split())
    return text


def normalize_record(record: Record, cleaning: CleaningConfig) -> Record:
    """The record with normalised text; NER tokens are normalised one by one (count kept)."""
    if record.tokens is None:
        return replace(record, text=normalize_text(record.text, cleaning))
    tokens = []
    for token in record.tokens:
        # NFKC can turn a compatibility character into space + combining mark (U+00A8 "¨");
        # squeezing that space out keeps one token per tag.
        normal = normalize_text(token, cleaning).replace(" ", "")
        tokens.append(normal or token)
    return replace(record, text=" ".join(tokens), tokens=tuple(tokens))


def _drop_undeclared(records: list[Record], declared: list[str] | None, kind: str) -> Cleaned:
    if declared is None:
        return records, []
    if kind == "number":
        raise DataError(
            "data.labels is set but task.type is regression, whose labels are numbers, not "
            "classes. Remove data.labels or change task.type."
        )
    if kind == "tags":
        # NER labels may be declared as entity types (person) or tags (B-person, I-person, O);
        # both mean the same set of entity types, which is what each tag is checked against.
        allowed = {name[2:] if name[:2] in ("B-", "I-") else name for name in declared} - {"O"}
        what = "entity type"
    else:
        allowed, what = set(declared), "label"
    kept, removed = [], []
    for record in records:
        outside = _outside(record.label, allowed, kind)
        if outside:
            removed.append(_quarantine(record, undeclared_reason(outside[0], what)))
        else:
            kept.append(record)
    return kept, removed


def _outside(label: Label, allowed: set[str], kind: str) -> list[str]:
    """The label items (NER: entity types) of ``label`` that are not in ``allowed``."""
    if kind == "tags":
        return [tag[2:] for tag in label if tag != "O" and tag[2:] not in allowed]
    items = label if isinstance(label, tuple) else (label,)
    return [item for item in items if item not in allowed]


def _drop_conflicts(records: list[Record]) -> Cleaned:
    labels_by_text: dict[str, set[Label]] = defaultdict(set)
    for record in records:
        labels_by_text[record.text].add(record.label)
    kept, removed = [], []
    for record in records:
        labels = labels_by_text[record.text]
        if len(labels) > 1:
            removed.append(_quarantine(record, conflict_reason(list(labels))))
        else:
            kept.append(record)
    return kept, removed


def _drop_duplicates(records: list[Record]) -> Cleaned:
    first: dict[tuple[str, Label], str] = {}
    kept, removed = [], []
    for record in records:
        key = (record.text, record.label)
        if key in first:
            removed.append(_quarantine(record, duplicate_reason(first[key])))
        else:
            first[key] = record.source
            kept.append(record)
    return kept, removed


def _drop_small_classes(records: list[Record], minimum: int) -> Cleaned:
    """Classes below ``minimum`` cannot be spread over train/validation/test.

    Single-label rows of such a class are quarantined. Multilabel rows lose the rare label and
    are quarantined only when no label is left.
    """
    counts = Counter(
        item
        for record in records
        for item in (record.label if isinstance(record.label, tuple) else (record.label,))
    )
    rare = {label for label, count in counts.items() if count < minimum}
    if not rare:
        return records, []
    kept, removed, trimmed = [], [], 0
    for record in records:
        if not isinstance(record.label, tuple):
            if record.label in rare:
                reason = small_class_reason(record.label, counts[record.label], minimum)
                removed.append(_quarantine(record, reason))
            else:
                kept.append(record)
            continue
        left = tuple(item for item in record.label if item not in rare)
        if not left:
            dropped = record.label[0]
            removed.append(
                _quarantine(record, small_class_reason(dropped, counts[dropped], minimum))
            )
        elif len(left) < len(record.label):
            kept.append(replace(record, label=left))
            trimmed += 1
        else:
            kept.append(record)
    if trimmed:
        logger.warning(
            "Labels %s have fewer than %d examples (min_examples_per_class) and were removed "
            "from the label sets of %d rows that keep other labels.",
            ", ".join(sorted(rare)),
            minimum,
            trimmed,
        )
    return kept, removed


def _quarantine(record: Record, reason: str) -> QuarantinedRow:
    return QuarantinedRow(record.source, reason, record.text, record.label)
