"""Rows of an Excel workbook (.xlsx, .xlsm): the table a business user most often has.

openpyxl reads the file (read-only, cached cell values rather than formulas); the first row
with a non-blank cell is the header, as in a CSV file. Each row's source is the sheet and its
Excel row number (``file:Sheet1 row 5``), so a quarantined row can be found where the user
edits it.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

from tuneforge.config import DataConfig
from tuneforge.data._tabular import RawRow, cell, column_indices
from tuneforge.errors import DataError


def read_excel(path: Path, data: DataConfig) -> list[RawRow]:
    """Rows of the sheet data.sheet (default: the first) of an Excel workbook.

    Raises:
        DataError: not a readable .xlsx/.xlsm file, no such sheet, an empty sheet, or a
            column missing.
    """
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise DataError(
            f"{path}: cannot be read as an Excel workbook ({exc}). Save it as .xlsx (or CSV) "
            "from the spreadsheet program, or set data.format to its real format."
        ) from exc
    try:
        if data.sheet is None:
            sheet = workbook.worksheets[0]
        elif data.sheet in workbook.sheetnames:
            sheet = workbook[data.sheet]
        else:
            shown = ", ".join(repr(name) for name in workbook.sheetnames)
            raise DataError(
                f"{path}: there is no sheet {data.sheet!r} (data.sheet). Sheets: {shown}."
            )
        return _sheet_rows(path, sheet.title, sheet.iter_rows(values_only=True), data)
    finally:
        workbook.close()


def _sheet_rows(
    path: Path, title: str, cells: Iterable[tuple[object, ...]], data: DataConfig
) -> list[RawRow]:
    """Rows after the header row (the first with a non-blank cell), by their Excel row numbers;
    blank rows are skipped."""
    remaining = iter(cells)  # the data rows continue where the header search stopped
    header, header_row = None, 0
    for header_row, row in enumerate(remaining, start=1):  # noqa: B007  (used below)
        if any(_text(value).strip() for value in row):
            header = [_text(value).strip() for value in row]
            break
    if header is None:
        raise DataError(
            f"{path}: sheet {title!r} is empty. Point data.source (or data.sheet) at a sheet "
            "with a header row and rows."
        )
    text_index, label_index, *sentence_index = column_indices(path, header, data)
    sentence_at = sentence_index[0] if sentence_index else None
    rows = []
    for number, row in enumerate(remaining, start=header_row + 1):
        if all(_text(value).strip() == "" for value in row):
            continue
        text = cell(row, text_index)
        rows.append(
            RawRow(
                f"{path}:{title} row {number}",
                None if text is None else _text(text),
                cell(row, label_index),
                sentence=cell(row, sentence_at),
            )
        )
    return rows


def _text(cell: object) -> str:
    """A cell as text: numbers and dates as Excel shows them plainly (5.0 -> "5")."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell)
