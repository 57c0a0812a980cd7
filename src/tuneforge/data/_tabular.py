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
from tuneforge.data.quarantine import malformed_row_reason
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


def read_delimited(path: Path, delimiter: str, data: DataConfig) -> list[RawRow]:
    """Rows of a CSV or TSV file with a header line; the first data row is ``file:2``."""
    reader = csv.reader(
        io.StringIO(read_text(path, data.encoding), newline=""), delimiter=delimiter
    )
    header = next(reader, None)
    while header is not None and not any(cell.strip() for cell in header):
        header = next(reader, None)
    if header is None:
        raise DataError(f"{path} is empty. Point data.source at a file with a header and rows.")
    header = [name.strip() for name in header]
    check_column(path, data.text_column, header, "data.text_column")
    check_column(path, data.label_column, header, "data.label_column")
    text_index, label_index = header.index(data.text_column), header.index(data.label_column)
    rows, line = [], reader.line_num + 1
    for cells in reader:
        if cells:
            source = f"{path}:{line}"
            if len(cells) > len(header):
                rows.append(
                    RawRow(source, None, None, malformed_row_reason(len(cells), len(header)))
                )
            else:
                text = cells[text_index] if text_index < len(cells) else None
                label = cells[label_index] if label_index < len(cells) else None
                rows.append(RawRow(source, text, label))
        line = reader.line_num + 1
    return rows


def read_jsonl(path: Path, data: DataConfig) -> list[RawRow]:
    """Rows of a JSON Lines file (one object per line; blank lines are skipped)."""
    rows, fields = [], set()
    # split("\n"), not splitlines(): JSON strings may hold U+2028, which splitlines breaks on.
    for number, line in enumerate(read_text(path, data.encoding).split("\n"), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno}). Each line of "
                "a .jsonl file must be one complete JSON object; fix or delete that line."
            ) from exc
        if not isinstance(entry, dict):
            raise DataError(
                f"{path}:{number}: expected a JSON object like "
                f'{{"{data.text_column}": ..., "{data.label_column}": ...}}, '
                f"got a {type(entry).__name__}. Fix or delete that line."
            )
        fields.update(entry)
        rows.append(
            RawRow(f"{path}:{number}", entry.get(data.text_column), entry.get(data.label_column))
        )
    if rows:
        check_column(path, data.text_column, sorted(fields), "data.text_column")
        check_column(path, data.label_column, sorted(fields), "data.label_column")
    return rows


def read_parquet(path: Path, data: DataConfig) -> list[RawRow]:
    """Rows of a Parquet file; ``file:row N`` counts from 0, like ``read_parquet().iloc[N]``."""
    import pyarrow.parquet as pq
    from pyarrow import ArrowException

    try:
        names = pq.read_schema(path).names
        check_column(path, data.text_column, names, "data.text_column")
        check_column(path, data.label_column, names, "data.label_column")
        table = pq.read_table(path, columns=[data.text_column, data.label_column])
    except ArrowException as exc:
        raise DataError(
            f"{path}: cannot be read as Parquet ({exc}). Check the file is complete, or set "
            "data.format to its real format."
        ) from exc
    texts = table.column(data.text_column).to_pylist()
    labels = table.column(data.label_column).to_pylist()
    return [
        RawRow(f"{path}:row {index}", text, label)
        for index, (text, label) in enumerate(zip(texts, labels, strict=True))
    ]
