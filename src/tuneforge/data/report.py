"""The data report: split sizes, label counts, token lengths, quarantine reasons and warnings.

It is built once after the data stage, written as ``data_report.json`` and shown in the terminal,
so problems (a class of 12 examples, half the texts truncated) are seen before training.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from tuneforge.config import label_kind_of
from tuneforge.data.quarantine import reason_category
from tuneforge.data.records import Record, Splits

# A majority class 10x the minority one is where unweighted training starts to ignore the
# minority (the rule of thumb of He & Garcia, 2009, "Learning from Imbalanced Data").
IMBALANCE_WARNING_RATIO = 10.0
# Beyond this share of truncated inputs the model misses a noticeable part of the data.
TRUNCATION_WARNING_SHARE = 0.2
QUARANTINE_WARNING_SHARE = 0.1
_PERCENTILES = (50, 90, 95, 99)
_TOKENIZE_BATCH = 512


def truncation_advice(report: dict[str, Any], split: str) -> str | None:
    """What to change when the model read only part of many of ``split``'s texts (None when
    few were cut): the reason a model trails a baseline that reads them whole (TF-IDF)."""
    summary = report.get("splits", {}).get(split)
    if not summary or summary["truncated_share"] <= TRUNCATION_WARNING_SHARE:
        return None
    if report.get("covered_tokens"):
        return (
            f"the model read only the first {report['covered_tokens']} tokens of "
            f"{summary['truncated_share']:.0%} of these texts, TF-IDF all of them: raise "
            "model.max_chunks"
        )
    return (
        f"the model read only the first {report['max_seq_length']} tokens of "
        f"{summary['truncated_share']:.0%} of these texts, TF-IDF all of them: set "
        "model.long_text: chunks (or raise model.max_seq_length)"
    )


def build_data_report(
    splits: Splits,
    tokenizer: Any,
    max_seq_length: int,
    task_type: str,
    covered_tokens: int | None = None,
) -> dict[str, Any]:
    """Describe ``splits`` as a JSON-able dict.

    Args:
        splits: the output of :func:`tuneforge.data.prepare_dataset`.
        tokenizer: a (fast) Hugging Face tokenizer; lengths count its special tokens.
        max_seq_length: the model's input limit; longer examples are counted as truncated.
        task_type: ``classification``, ``multilabel``, ``regression`` or ``ner``.
        covered_tokens: with model.long_text: chunks, the tokens that max_chunks windows cover;
            only longer examples are cut (and counted as truncated).

    Returns:
        ``{"task_type", "max_seq_length", "splits": {name: {"size", "token_length",
        "truncated", "truncated_share", "augmented" (copies made by data.augmentation), and "label_counts" | "entity_counts" | "target"}},
        "covered_tokens": int | None,
        "quarantine": {"total", "by_category"}, "sampled_from": int | None,
        "warnings": [str]}``.
    """
    parts = {"train": splits.train, "validation": splits.validation, "test": splits.test}
    limit = covered_tokens or max_seq_length
    summaries = {}
    for name, records in parts.items():
        lengths = token_lengths(records, tokenizer)
        truncated = int((lengths > limit).sum())
        summaries[name] = {
            "size": len(records),
            "token_length": _percentiles(lengths),
            "truncated": truncated,
            "truncated_share": truncated / len(records) if records else 0.0,
            "augmented": sum(record.augmented for record in records),
            **_label_summary(records, label_kind_of(task_type)),
        }
    categories = Counter(reason_category(row.reason) for row in splits.quarantined)
    report = {
        "task_type": task_type,
        "max_seq_length": max_seq_length,
        "covered_tokens": covered_tokens,
        "splits": summaries,
        "quarantine": {"total": len(splits.quarantined), "by_category": dict(categories)},
        "sampled_from": splits.sampled_from,
    }
    report["warnings"] = _warnings(report)
    return report


def token_lengths(records: list[Record], tokenizer: Any) -> np.ndarray:
    """Tokens per record with special tokens and without truncation, tokenized in batches."""
    lengths: list[int] = []
    for start in range(0, len(records), _TOKENIZE_BATCH):
        batch = records[start : start + _TOKENIZE_BATCH]
        words = all(record.tokens is not None for record in batch)
        inputs = [list(r.tokens) for r in batch] if words else [r.text for r in batch]
        encoded = tokenizer(
            inputs,
            is_split_into_words=words,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,  # no "longer than the maximum" warning: counting those is the point
        )
        lengths.extend(len(ids) for ids in encoded["input_ids"])
    return np.array(lengths, dtype=np.int64)


def _percentiles(lengths: np.ndarray) -> dict[str, int] | None:
    if lengths.size == 0:
        return None
    values = np.percentile(lengths, _PERCENTILES)
    summary = {f"p{p}": round(float(v)) for p, v in zip(_PERCENTILES, values, strict=True)}
    summary["max"] = int(lengths.max())
    return summary


def _label_summary(records: list[Record], kind: str) -> dict[str, Any]:
    if kind == "number":
        values = np.array([record.label for record in records], dtype=float)
        if values.size == 0:
            return {"target": None}
        stats = {
            "mean": values.mean(),
            "std": values.std(),
            "min": values.min(),
            "max": values.max(),
        }
        return {"target": {key: float(value) for key, value in stats.items()}}
    if kind == "tags":
        # After IOB2 repair every entity starts with exactly one B- tag.
        counts = Counter(tag[2:] for r in records for tag in r.label if tag.startswith("B-"))
        return {"entity_counts": dict(sorted(counts.items()))}
    counts = Counter(
        item for r in records for item in (r.label if isinstance(r.label, tuple) else (r.label,))
    )
    return {"label_counts": dict(sorted(counts.items()))}


def _warnings(report: dict[str, Any]) -> list[str]:
    warnings = []
    splits = report["splits"]
    train_counts = splits["train"].get("label_counts") or splits["train"].get("entity_counts")
    if train_counts and len(train_counts) > 1:
        most, least = (
            max(train_counts, key=train_counts.get),
            min(train_counts, key=train_counts.get),
        )
        ratio = train_counts[most] / train_counts[least]
        if ratio > IMBALANCE_WARNING_RATIO:
            warnings.append(
                f"Class imbalance: '{most}' has {train_counts[most]} training examples, "
                f"'{least}' only {train_counts[least]} ({ratio:.0f}x); expect weak results on "
                f"'{least}' unless you add examples or weight the classes."
            )
    if splits["train"].get("label_counts"):  # class names (not NER types, not numbers)
        warnings.extend(_case_variant_warnings(splits["train"]["label_counts"]))
        warnings.extend(_joined_label_warnings(splits["train"]["label_counts"], report))
    for name, summary in splits.items():
        if summary["truncated_share"] > TRUNCATION_WARNING_SHARE and report.get("covered_tokens"):
            warnings.append(
                f"{summary['truncated_share']:.0%} of the {name} examples are longer than the "
                f"{report['covered_tokens']} tokens that model.max_chunks windows cover and will "
                f"be cut (p95 length {summary['token_length']['p95']}); consider raising "
                "model.max_chunks."
            )
        elif summary["truncated_share"] > TRUNCATION_WARNING_SHARE:
            warnings.append(
                f"{summary['truncated_share']:.0%} of the {name} examples are longer than "
                f"max_seq_length={report['max_seq_length']} tokens and will be truncated "
                f"(p95 length {summary['token_length']['p95']}); consider raising "
                "model.max_seq_length, or model.long_text: chunks to read whole texts."
            )
        counts = summary.get("label_counts") or summary.get("entity_counts")
        if name != "train" and summary["size"] and train_counts and counts is not None:
            missing = sorted(set(train_counts) - set(counts))
            if missing:
                shown = ", ".join(missing[:_NAMED_AT_MOST])
                if len(missing) > _NAMED_AT_MOST:
                    shown += f" and {len(missing) - _NAMED_AT_MOST} more"
                warnings.append(
                    f"No {name} examples of {shown}: their {name} metrics are undefined."
                )
    if splits["validation"]["size"] == 0:
        warnings.append(
            "The validation split is empty: no early stopping or best-checkpoint selection."
        )
    kept = report.get("sampled_from") or sum(
        summary["size"] - summary.get("augmented", 0) for summary in splits.values()
    )
    total = report["quarantine"]["total"] + kept
    if total and report["quarantine"]["total"] / total > QUARANTINE_WARNING_SHARE:
        share = report["quarantine"]["total"] / total
        warnings.append(
            f"{report['quarantine']['total']} of {total} rows ({share:.0%}) were quarantined; "
            "see quarantine.jsonl for each row's reason."
        )
    return warnings


_NAMED_AT_MOST = 10
"""Classes a warning names before it counts the rest (a 300-intent set would fill screens)."""


_JOINERS = ("|", ";", ",")


def _joined_label_warnings(counts: dict[str, int], report: dict[str, Any]) -> list[str]:
    """Class names that look like several labels joined by a separator, read as one class
    each: what a multilabel file read without data.label_separator gives."""
    for joiner in _JOINERS:
        joined = sorted(name for name in counts if joiner in name.strip(joiner))
        if len(joined) >= 2:
            several = label_kind_of(report["task_type"]) == "class_set"
            task = "" if several else "task.type: multilabel and "
            return [
                f"{len(joined)} class names contain {joiner!r} (e.g. {joined[0]!r}) and are "
                f"read as one class each; if rows carry several labels, set {task}"
                f"data.label_separator: {joiner!r}."
            ]
    return []


def _case_variant_warnings(counts: dict[str, int]) -> list[str]:
    """Classes whose names differ only in letter case: most often one class spelled two ways."""
    by_fold: dict[str, list[str]] = {}
    for name in counts:
        by_fold.setdefault(name.casefold(), []).append(name)
    return [
        f"Labels {' and '.join(repr(name) for name in sorted(names))} differ only in letter case "
        "and are trained as separate classes; if they are one class, set "
        "data.cleaning.merge_label_case: true."
        for names in by_fold.values()
        if len(names) > 1
    ]


def render_data_report(report: dict[str, Any]) -> Any:
    """The report as rich tables (sizes and lengths, labels per split, quarantine, warnings)."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    names = list(report["splits"])
    sizes = Table(title=f"Data ({report['task_type']})")
    for column in ("split", "examples", "tokens p50", "p95", "max", "truncated"):
        sizes.add_column(column, justify="left" if column == "split" else "right")
    for name, summary in report["splits"].items():
        lengths = summary["token_length"] or {}
        augmented = summary.get("augmented", 0)
        sizes.add_row(
            name,
            f"{summary['size']} ({augmented} augmented)" if augmented else str(summary["size"]),
            *(str(lengths.get(key, "-")) for key in ("p50", "p95", "max")),
            f"{summary['truncated']} ({summary['truncated_share']:.0%})",
        )
    parts: list[Any] = [sizes]
    key = next(
        k for k in ("label_counts", "entity_counts", "target") if k in report["splits"]["train"]
    )
    labels = Table(title={"label_counts": "Labels", "entity_counts": "Entities"}.get(key, "Target"))
    labels.add_column(
        {"label_counts": "label", "entity_counts": "entity type"}.get(key, "statistic")
    )
    for name in names:
        labels.add_column(name, justify="right")
    if key == "target":
        for stat in ("mean", "std", "min", "max"):
            cells = [report["splits"][n]["target"] for n in names]
            labels.add_row(stat, *(f"{cell[stat]:.4g}" if cell else "-" for cell in cells))
    else:
        every = sorted({label for n in names for label in report["splits"][n][key]})
        for label in every:
            labels.add_row(label, *(str(report["splits"][n][key].get(label, 0)) for n in names))
    parts.append(labels)
    if report["quarantine"]["total"]:
        quarantine = Table(title=f"Quarantined ({report['quarantine']['total']} rows)")
        quarantine.add_column("reason")
        quarantine.add_column("rows", justify="right")
        for category, count in sorted(report["quarantine"]["by_category"].items()):
            quarantine.add_row(category, str(count))
        parts.append(quarantine)
    parts.extend(Text(f"warning: {warning}", style="yellow") for warning in report["warnings"])
    return Group(*parts)
