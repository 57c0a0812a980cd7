"""Read CSV, TSV, JSONL and Parquet into raw rows: where each row came from, its text, its label.

The stdlib csv module is used rather than pandas because it reports the physical line each row
starts on, so a message can point at ``file.csv:1041`` even after multi-line quoted cells. Every
cell stays a string; nothing is guessed to be a number or NA.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
from dataclasses import dataclass
from pathlib import Path

from tuneforge.config import DataConfig
from tuneforge.data._decode import read_text
from tuneforge.data.delimiters import header_cells, sniff_delimiter
from tuneforge.data.quarantine import malformed_json_reason, malformed_row_reason
from tuneforge.errors import DataError

# Long articles exceed csv's default 128 KiB cell limit; 2**31 - 1 fits every platform's C long.
csv.field_size_limit(2**31 - 1)


@dataclass(frozen=True)
class RawRow:
    source: str
    """``file:line`` or ``file:row N``."""
    text: object
    label: object
    problem: str | None = None
    """Why the row cannot be used at all (a malformed CSV line); None when it can."""
    sentence: object = None
    """The data.sentence_column cell (NER tables with one token per row); None without it."""


def check_column(path: Path, column: str, available: list[str], setting: str) -> None:
    """Raise a DataError listing the columns and the closest match when ``column`` is absent."""
    if column in available:
        return
    by_lower = {name.lower(): name for name in available}
    close = [by_lower[column.lower()]] if column.lower() in by_lower else []
    close = close or difflib.get_close_matches(column, available, n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    shown = ", ".join(repr(name) for name in available) or "none"
    raise DataError(
        f"{path}: there is no column {column!r} ({setting}).{hint} Available columns: {shown}. "
        f"Set {setting} to the column that holds it."
    )


def column_indices(path: Path, header: list[str], data: DataConfig) -> list[int]:
    """Where a header holds data.text_column, data.label_column and (when set)
    data.sentence_column, in that order.

    Raises:
        DataError: a column missing (with the closest name), or named twice (which of the two
            holds the data cannot be told).
    """
    indices = []
    columns = [(data.text_column, "data.text_column"), (data.label_column, "data.label_column")]
    if data.sentence_column is not None:
        columns.append((data.sentence_column, "data.sentence_column"))
    for name, setting in columns:
        check_column(path, name, header, setting)
        positions = [index for index, cell in enumerate(header) if cell == name]
        if len(positions) > 1:
            raise DataError(
                f"{path}: the header names {name!r} {len(positions)} times (columns "
                f"{', '.join(str(index + 1) for index in positions)}); rename the copies so "
                "one column holds it."
            )
        indices.append(positions[0])
    return indices


def cell(cells: list | tuple, index: int | None) -> object:
    """The cell at ``index`` of a row that may be short; None for a missing cell or column."""
    return cells[index] if index is not None and index < len(cells) else None


def read_delimited(path: Path, delimiter: str, data: DataConfig) -> list[RawRow]:
    """Rows of a CSV or TSV file with a header line; the first data row is ``file:2``.
    `delimiter` is the extension's; data.delimiter overrides it, and without that a header
    that does not split by it is tried with the other usual ones (`sniff_delimiter`)."""
    text = read_text(path, data.encoding)
    if data.delimiter is not None:
        delimiter = data.delimiter
    else:
        delimiter = sniff_delimiter(path, text, delimiter)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = header_cells(reader)
    if header is None:
        raise DataError(f"{path} is empty. Point data.source at a file with a header and rows.")
    text_index, label_index, *sentence_index = column_indices(path, header, data)
    sentence_at = sentence_index[0] if sentence_index else None
    rows, line = [], reader.line_num + 1
    for cells in reader:
        if cells:
            source = f"{path}:{line}"
            if len(cells) > len(header):
                # The sentence cell still says where the row belongs (a sentence with an
                # unreadable row is quarantined whole, not merged into the one above).
                problem = malformed_row_reason(len(cells), len(header))
                rows.append(RawRow(source, None, None, problem, sentence=cell(cells, sentence_at)))
            else:
                rows.append(
                    RawRow(
                        source,
                        cell(cells, text_index),
                        cell(cells, label_index),
                        sentence=cell(cells, sentence_at),
                    )
                )
        line = reader.line_num + 1
    return rows


def read_jsonl(path: Path, data: DataConfig) -> list[RawRow]:
    """Rows of a JSON Lines file (one object per line; blank lines are skipped). A line that is
    not a JSON object is kept as a malformed row (quarantined with its reason), unless no line
    is: then the file is not JSON Lines. A column name with dots (``review.body``) reaches into
    nested objects when no top-level field has that name."""
    rows, fields, parsed = [], set(), 0
    # split("\n"), not splitlines(): JSON strings may hold U+2028, which splitlines breaks on.
    for number, line in enumerate(read_text(path, data.encoding).split("\n"), start=1):
        if not line.strip():
            continue
        source = f"{path}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            problem = malformed_json_reason(f"not valid JSON ({exc.msg} at column {exc.colno})")
            rows.append(RawRow(source, None, None, problem))
            continue
        if not isinstance(entry, dict):
            problem = malformed_json_reason(f"a JSON {type(entry).__name__}, not an object")
            rows.append(RawRow(source, None, None, problem))
            continue
        parsed += 1
        fields.update(_field_paths(entry))
        text, label = _field(entry, data.text_column), _field(entry, data.label_column)
        sentence = _field(entry, data.sentence_column) if data.sentence_column else None
        rows.append(RawRow(source, text, label, sentence=sentence))
    if rows and not parsed:
        raise DataError(
            f"{path}: no line is a JSON object ({rows[0].source}: {rows[0].problem}). Each line "
            f'of a .jsonl file must be one object like {{"{data.text_column}": ..., '
            f'"{data.label_column}": ...}}.'
        )
    if parsed:
        check_column(path, data.text_column, sorted(fields), "data.text_column")
        check_column(path, data.label_column, sorted(fields), "data.label_column")
        if data.sentence_column:
            check_column(path, data.sentence_column, sorted(fields), "data.sentence_column")
    return rows


def _field(entry: dict, name: str) -> object:
    """entry[name], or for a dotted name the nested value it leads to; None when absent."""
    if name in entry or "." not in name:
        return entry.get(name)
    value: object = entry
    for part in name.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _field_paths(entry: dict, prefix: str = "") -> list[str]:
    """Every field name of an object, nested ones also as dotted paths (``review.body``)."""
    paths = []
    for key, value in entry.items():
        path = f"{prefix}{key}"
        paths.append(path)
        if isinstance(value, dict):
            paths.extend(_field_paths(value, f"{path}."))
    return paths


def read_parquet(path: Path, data: DataConfig) -> list[RawRow]:
    """Rows of a Parquet file; ``file:row N`` counts from 0, like ``read_parquet().iloc[N]``."""
    import pyarrow.parquet as pq
    from pyarrow import ArrowException

    try:
        names = pq.read_schema(path).names
        columns = [data.text_column, data.label_column]
        settings = ["data.text_column", "data.label_column"]
        if data.sentence_column:
            columns.append(data.sentence_column)
            settings.append("data.sentence_column")
        for column, setting in zip(columns, settings, strict=True):
            check_column(path, column, names, setting)
        table = pq.read_table(path, columns=list(dict.fromkeys(columns)))
    except ArrowException as exc:
        raise DataError(
            f"{path}: cannot be read as Parquet ({exc}). Check the file is complete, or set "
            "data.format to its real format."
        ) from exc
    texts = table.column(data.text_column).to_pylist()
    labels = table.column(data.label_column).to_pylist()
    sentences = (
        table.column(data.sentence_column).to_pylist()
        if data.sentence_column
        else [None] * len(texts)
    )
    return [
        RawRow(f"{path}:row {index}", text, label, sentence=sentence)
        for index, (text, label, sentence) in enumerate(zip(texts, labels, sentences, strict=True))
    ]
