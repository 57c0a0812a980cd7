"""Quarantine reasons and the ``quarantine.jsonl`` file.

Every reason a row can be removed for is written by one function here, so the report can count
reasons by category without re-parsing free text scattered over the loaders and cleaners.
"""

from __future__ import annotations

import json
from pathlib import Path

from tuneforge.data.records import Label, QuarantinedRow

MISSING_LABEL = "missing label"
EMPTY_TEXT = "empty text"

# (prefix or fixed reason, category); the first match wins.
_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("duplicate of ", "duplicate"),
    ("conflicting labels: ", "conflict"),
    (MISSING_LABEL, "missing label"),
    (EMPTY_TEXT, "empty text"),
    ("undecodable bytes", "undecodable"),
    ("malformed row", "malformed row"),
    ("invalid label", "invalid label"),
    ("invalid text", "invalid text"),
    ("unseen label", "unseen label"),
    ("class '", "small class"),
)


def format_label(label: Label | None) -> str:
    """A label as shown in messages: ``pos``, ``[a, b]`` (multilabel, NER tags) or ``0.25``."""
    if isinstance(label, tuple):
        return "[" + ", ".join(label) + "]"
    if isinstance(label, float):
        return f"{label:g}"
    return str(label)


def duplicate_reason(first_source: str) -> str:
    return f"duplicate of {first_source}"


def conflict_reason(labels: list[Label]) -> str:
    return "conflicting labels: " + ", ".join(sorted(format_label(label) for label in labels))


def undeclared_reason(value: str, what: str = "label") -> str:
    return f"{what} '{value}' not in declared labels"


def small_class_reason(label: str, count: int, minimum: int) -> str:
    return f"class '{label}' has only {count} examples (min_examples_per_class={minimum})"


def undecodable_reason(encoding: str, byte: int) -> str:
    return f"undecodable bytes ({encoding}) at byte {byte}"


def malformed_row_reason(fields: int, expected: int) -> str:
    return (
        f"malformed row: {fields} fields where the header has {expected} "
        "(an unquoted delimiter inside the text?)"
    )


def malformed_json_reason(detail: str) -> str:
    return f"malformed row: {detail}"


def invalid_text_reason(kind: str, column: str) -> str:
    return f"invalid text: {column!r} holds a {kind}, not a text"


def invalid_label_reason(value: object, expected: str) -> str:
    return f"invalid label: {value!r} is not {expected}"


def unseen_label_reason(label: str) -> str:
    return f"unseen label: '{label}' does not occur in the training split"


def reason_category(reason: str) -> str:
    """The category of a quarantine reason (``duplicate``, ``small class``, ...), for counting."""
    if " not in declared labels" in reason:
        return "undeclared label"
    for prefix, category in _CATEGORIES:
        if reason.startswith(prefix):
            return category
    return "other"


def write_quarantine(rows: list[QuarantinedRow], path: Path | str) -> None:
    """Write quarantined rows as JSONL: one ``{source, reason, text, label}`` object per line.

    Tuple labels (multilabel, NER tags) are written as JSON lists.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for row in rows:
            label = list(row.label) if isinstance(row.label, tuple) else row.label
            entry = {"source": row.source, "reason": row.reason, "text": row.text, "label": label}
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")


def read_quarantine(path: Path | str) -> list[QuarantinedRow]:
    """Read a file written by :func:`write_quarantine` (JSON lists come back as tuples)."""
    rows = []
    # split("\n"), not splitlines(): texts may hold U+2028, which splitlines breaks on.
    for line in Path(path).read_text(encoding="utf-8").split("\n"):
        if not line.strip():
            continue
        entry = json.loads(line)
        label = entry.get("label")
        if isinstance(label, list):
            label = tuple(label)
        rows.append(QuarantinedRow(entry["source"], entry["reason"], entry.get("text"), label))
    return rows
