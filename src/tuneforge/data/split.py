"""Stratified train/validation/test splits and stratified subsampling, deterministic per seed."""

from __future__ import annotations

import logging
from collections import Counter

import numpy as np

from tuneforge.config import RunConfig
from tuneforge.data.records import Record

logger = logging.getLogger(__name__)

# Regression targets are stratified by quintile so every split sees the whole range of values.
_REGRESSION_BINS = 5


def split_records(
    records: list[Record], config: RunConfig
) -> tuple[list[Record], list[Record], list[Record]]:
    """Cut ``records`` into train, validation and test per ``config.data.split``.

    The test split is cut first, then validation from the rest, both stratified (see
    :func:`stratify_keys`); each split keeps the input order. A ratio of 0 gives an empty split,
    and so does a user-given ``data.validation_source`` / ``data.test_source``: those files are
    loaded by :func:`tuneforge.data.prepare_dataset`, not cut from ``records``.

    Returns:
        ``(train, validation, test)``.
    """
    split = config.data.split
    test_ratio = 0.0 if config.data.test_source else split.test_ratio
    validation_ratio = 0.0 if config.data.validation_source else split.validation_ratio
    keys = stratify_keys(records, config.task.label_kind)
    rest, test = _cut(list(range(len(records))), keys, test_ratio, split.seed)
    # The validation share is of what is left after the test cut: 0.1 / 0.9 of the rest is 10%.
    train, validation = _cut(rest, keys, validation_ratio / (1.0 - test_ratio), split.seed)
    return tuple([records[i] for i in sorted(part)] for part in (train, validation, test))


def sample_records(records: list[Record], max_examples: int, config: RunConfig) -> list[Record]:
    """A stratified sample of ``max_examples`` records, in input order (all when fewer)."""
    if len(records) <= max_examples:
        return records
    keys = stratify_keys(records, config.task.label_kind)
    # An exact count: a float share can round to one row off after sklearn's ceil().
    kept, _ = _cut(
        list(range(len(records))), keys, len(records) - max_examples, config.data.split.seed
    )
    return [records[i] for i in sorted(kept)]


def stratify_keys(records: list[Record], kind: str) -> list[str]:
    """The stratum of each record.

    classification: the label; multilabel: the row's rarest label (rare labels are the ones a
    random split loses); regression: the quintile of the target; ner: whether the sentence has
    any entity.
    """
    if kind == "class":
        return [str(record.label) for record in records]
    if kind == "class_set":
        counts = Counter(item for record in records for item in record.label)
        return [
            min(record.label, key=lambda item: (counts[item], item), default="<none>")
            for record in records
        ]
    if kind == "number":
        values = np.array([record.label for record in records], dtype=float)
        if len(values) == 0:
            return []
        edges = np.quantile(values, np.linspace(0, 1, _REGRESSION_BINS + 1)[1:-1])
        return [f"q{int(np.searchsorted(edges, v, side='right'))}" for v in values]
    return ["entity" if any(tag != "O" for tag in record.label) else "none" for record in records]


def _cut(
    indices: list[int], keys: list[str], share: float, seed: int
) -> tuple[list[int], list[int]]:
    """Split ``indices`` into (kept, cut) with ``share`` of them cut, stratified when possible."""
    from sklearn.model_selection import train_test_split

    if share <= 0 or len(indices) < 2:
        return indices, []
    strata = _merge_rare([keys[i] for i in indices])
    try:
        kept, cut = train_test_split(indices, test_size=share, random_state=seed, stratify=strata)
    except ValueError as exc:
        # Too few rows per stratum for the cut size (tiny data): a plain random cut still works.
        logger.info("Stratified split not possible (%s); using a random split.", exc)
        kept, cut = train_test_split(indices, test_size=share, random_state=seed)
    return list(kept), list(cut)


def _merge_rare(strata: list[str]) -> list[str]:
    """Pool strata with one member (train_test_split needs two per stratum) into one."""
    counts = Counter(strata)
    singletons = {key for key, count in counts.items() if count < 2}
    if not singletons:
        return strata
    # A pool of one would fail again; it then joins the largest stratum instead.
    pooled = "<rare>" if len(singletons) > 1 else counts.most_common(1)[0][0]
    return [pooled if key in singletons else key for key in strata]
