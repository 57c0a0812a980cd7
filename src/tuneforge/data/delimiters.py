"""Which delimiter a CSV/TSV file uses: the extension's, unless its header says otherwise.

Spreadsheets saved in locales whose decimal separator is a comma (most of Europe) write ";"
between fields into a file still called .csv; read by ",", its header is one column and every
row fails. The header alone decides (never the rows, whose texts hold any punctuation): a header
that splits into several columns by the expected delimiter is read by it, one that does not is
tried with the other usual ones.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

from tuneforge.console import console

DELIMITERS = (",", ";", "\t", "|")
"""What a header line that does not split by the extension's delimiter is tried with."""
_HEAD_CHARS = 65536


def sniff_delimiter(
    path: Path, text: str, expected: str, setting: str | None = "data.delimiter"
) -> str:
    """`expected`, unless the header splits into one column by it and into several by another
    usual delimiter: then that one (the first of `DELIMITERS` that does), said on stderr with
    the `setting` that would fix it."""
    first = header_cells(
        csv.reader(io.StringIO(text[:_HEAD_CHARS], newline=""), delimiter=expected)
    )
    if first is None or len(first) > 1:
        return expected
    for candidate in DELIMITERS:
        if candidate == expected:
            continue
        header = header_cells(
            csv.reader(io.StringIO(text[:_HEAD_CHARS], newline=""), delimiter=candidate)
        )
        if header is not None and len(header) > 1:
            hint = f" ({setting} sets it)" if setting else ""
            console.print(
                f"{path}: the header splits into columns by {candidate!r}, not {expected!r}: "
                f"reading it with {candidate!r}{hint}"
            )
            return candidate
    return expected


def header_cells(reader: Iterator[list[str]]) -> list[str] | None:
    """The first line with a non-blank cell, its names stripped; None for an empty file."""
    header = next(reader, None)
    while header is not None and not any(cell.strip() for cell in header):
        header = next(reader, None)
    return None if header is None else [name.strip() for name in header]
