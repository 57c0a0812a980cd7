"""Turn a raw cell (string, number, list, None) into the label type of the task.

Each parser returns ``(label, None)`` or ``(None, quarantine reason)``; a value that shows the
config itself is wrong (a list label for single-label classification) raises instead.
"""

from __future__ import annotations

import json
import math
import re

from tuneforge.config import LabelKind
from tuneforge.data.quarantine import MISSING_LABEL, invalid_label_reason
from tuneforge.data.records import Label
from tuneforge.errors import DataError

# Spellings of "no value" written by pandas, R, Excel and SQL exports. "None"/"none" are left
# out on purpose: they are real class names in many datasets (e.g. toxicity: none).
MISSING_MARKERS = frozenset({"", "nan", "NaN", "NAN", "NA", "N/A", "n/a", "null", "NULL"})
_INTEGRAL = re.compile(r"[+-]?\d+\.0*")
_DECIMAL_COMMA = re.compile(r"[+-]?\d+,\d+")

Parsed = tuple[Label | None, str | None]


def parse_label(
    value: object, kind: LabelKind, separator: str | None, where: str, column: str
) -> Parsed:
    """Parse one raw label of shape ``kind``; ``where`` (file:line) and ``column`` go in errors."""
    if kind == "class":
        return _class_label(value, where, column)
    if kind == "class_set":
        return _label_set(value, separator)
    if kind == "number":
        return _number(value)
    raise DataError(f"{where}: labels of kind {kind!r} cannot be read from a table.")


def class_name(value: object) -> str | None:
    """A class name as a string (integral numbers lose ``.0``); None if missing."""
    if value is None or isinstance(value, bool):
        return None if value is None else str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, int):
        return str(value)
    text = str(value).strip()
    if text in MISSING_MARKERS:
        return None
    # A label column with a gap is often saved as floats by pandas: 1 -> "1.0".
    return str(int(float(text))) if _INTEGRAL.fullmatch(text) else text


def _class_label(value: object, where: str, column: str) -> Parsed:
    if isinstance(value, list | tuple | dict):
        raise DataError(
            f"{where}: the label in {column!r} is a {type(value).__name__} ({value!r}) but "
            "task.type is classification, which takes one class per row. Set task.type: "
            "multilabel for rows with several labels."
        )
    name = class_name(value)
    return (name, None) if name is not None else (None, MISSING_LABEL)


def _label_set(value: object, separator: str | None) -> Parsed:
    if isinstance(value, list | tuple):
        items = list(value)
    else:
        text = class_name(value)
        if text is None:
            return None, MISSING_LABEL
        if separator:
            items = text.split(separator)
        elif text.startswith("["):
            try:
                items = json.loads(text)
            except json.JSONDecodeError:
                return None, invalid_label_reason(text, "a JSON list (or set data.label_separator)")
            if not isinstance(items, list):
                return None, invalid_label_reason(text, "a JSON list")
        else:
            items = [text]
    names = {class_name(item) for item in items}
    labels = tuple(sorted(name for name in names if name))
    return (labels, None) if labels else (None, MISSING_LABEL)


def _number(value: object) -> Parsed:
    if value is None:
        return None, MISSING_LABEL
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None, invalid_label_reason(value, "a number")
    if isinstance(value, str):
        if value.strip() in MISSING_MARKERS:
            return None, MISSING_LABEL
        try:
            number = float(value.strip())
        except ValueError:
            if _DECIMAL_COMMA.fullmatch(value.strip()):
                # 3,5 is 3.5 in most of Europe and 35 or an error elsewhere: not guessed.
                return None, invalid_label_reason(value, "a number (a decimal comma? write 3.5)")
            return None, invalid_label_reason(value, "a number")
    else:
        number = float(value)
    if math.isnan(number):
        return None, MISSING_LABEL
    if math.isinf(number):
        return None, invalid_label_reason(value, "a finite number")
    return number, None
