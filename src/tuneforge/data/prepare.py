"""The data stage: load, clean, sample, split and check, from the ``data`` section of a config."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from tuneforge.config import RunConfig
from tuneforge.data.anonymize import Anonymizer, anonymize_records
from tuneforge.data.augment import augment_training
from tuneforge.data.builtin import is_builtin
from tuneforge.data.clean import clean_records
from tuneforge.data.load import load_records
from tuneforge.data.quarantine import reason_category, unseen_label_reason
from tuneforge.data.records import QuarantinedRow, Record, Splits
from tuneforge.data.split import sample_records, split_records
from tuneforge.errors import DataError


def prepare_dataset(config: RunConfig) -> Splits:
    """Load ``data.source`` (and the optional validation/test sources), clean, sample, split.

    All sources are cleaned together, so a validation or test row that repeats a training text
    is quarantined as a duplicate (no leakage) and conflicts are found across files. Rows of a
    user-given validation/test file whose class never occurs in training are quarantined too.

    Returns:
        The splits, with every quarantined row (loading first, then cleaning) in
        ``Splits.quarantined``.

    Raises:
        DataError: a source cannot be loaded, nothing usable is left, or the training split
            has fewer than two classes (classification, multilabel).
    """
    data = config.data
    sources = {"train": data.source, "validation": data.validation_source, "test": data.test_source}
    _check_distinct_sources(sources, config)
    role_of: dict[str, str] = {}
    records: list[Record] = []
    quarantined: list[QuarantinedRow] = []
    anonymizer = Anonymizer(data.anonymization) if data.anonymization.enabled else None
    for role, source in sources.items():
        if source is None:
            continue
        loaded, removed = load_records(source, config, role)
        if anonymizer is not None:
            # Right after loading, before cleaning: quarantined rows, splits and reports
            # only ever hold anonymised text.
            loaded, removed = anonymize_records(anonymizer, loaded, removed, role)
        role_of.update(dict.fromkeys((record.source for record in loaded), role))
        records.extend(loaded)
        quarantined.extend(removed)
    cleaned, removed = clean_records(records, config)
    quarantined.extend(removed)
    pools: dict[str, list[Record]] = {"train": [], "validation": [], "test": []}
    for record in cleaned:
        pools[role_of[record.source]].append(record)
    if not pools["train"]:
        raise DataError(
            f"{data.source}: no usable examples left; all {len(quarantined)} rows were "
            f"quarantined ({_reason_summary(quarantined)}). Check data.text_column, "
            "data.label_column and data.labels, and read quarantine.jsonl for each row's reason."
        )
    pool = pools["train"]
    sampled_from = None
    if data.max_examples is not None:
        sampled_from = len(pool) + len(pools["validation"]) + len(pools["test"])
        pool = sample_records(pool, data.max_examples, config)
    train, validation, test = split_records(pool, config)
    if data.validation_source:
        validation = _drop_unseen(pools["validation"], train, config, quarantined)
    if data.test_source:
        test = _drop_unseen(pools["test"], train, config, quarantined)
    _check_classes(train, config, quarantined)
    # After the split, on the training split only: no copy of a row can reach validation/test.
    train = augment_training(train, data.augmentation)
    anonymization = None
    if anonymizer is not None:
        anonymization = anonymizer.report({r: Path(s).name for r, s in sources.items() if s})
    return Splits(
        train, validation, test, quarantined, sampled_from=sampled_from, anonymization=anonymization
    )


def _check_distinct_sources(sources: dict[str, str | None], config: RunConfig) -> None:
    seen: dict[str, str] = {}
    for role, source in sources.items():
        if source is None:
            continue
        key = source if is_builtin(source) else str(config.resolve_path(source).resolve())
        if key in seen:
            raise DataError(
                f"The {role} source {source!r} is the same as the {seen[key]} source; the "
                f"{role} data would repeat training data. Remove data.{role}_source to cut the "
                "split from data.source, or point it at a separate file."
            )
        seen[key] = role


def _class_names(record: Record) -> tuple[str, ...]:
    return record.label if isinstance(record.label, tuple) else (str(record.label),)


def _drop_unseen(
    records: list[Record], train: list[Record], config: RunConfig, quarantined: list[QuarantinedRow]
) -> list[Record]:
    """Rows whose class the model never saw in training cannot be predicted; set them aside."""
    if config.task.label_kind not in ("class", "class_set"):
        return records
    known = {name for record in train for name in _class_names(record)}
    kept = []
    for record in records:
        unseen = [name for name in _class_names(record) if name not in known]
        if unseen:
            reason = unseen_label_reason(unseen[0])
            quarantined.append(QuarantinedRow(record.source, reason, record.text, record.label))
        else:
            kept.append(record)
    return kept


def _check_classes(
    train: list[Record], config: RunConfig, quarantined: list[QuarantinedRow]
) -> None:
    if not train:
        raise DataError(
            f"{config.data.source}: the training split is empty. Use more data, or lower "
            "data.split.validation_ratio and data.split.test_ratio."
        )
    if config.task.label_kind not in ("class", "class_set"):
        return
    classes = Counter(name for record in train for name in _class_names(record))
    if len(classes) < 2:
        only = next(iter(classes))
        raise DataError(
            f"{config.data.source}: one class only: every training example has label {only!r} "
            f"({len(train)} examples; {len(quarantined)} rows quarantined: "
            f"{_reason_summary(quarantined)}). A classifier needs at least two classes; check "
            "data.label_column and the quarantine reasons."
        )


def _reason_summary(quarantined: list[QuarantinedRow]) -> str:
    counts = Counter(reason_category(row.reason) for row in quarantined)
    return ", ".join(f"{count} {category}" for category, count in counts.most_common()) or "none"
