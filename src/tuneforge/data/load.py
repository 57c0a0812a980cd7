"""Load a data source (file, folder or built-in dataset) into records plus quarantined rows."""

from __future__ import annotations

import math
from pathlib import Path

from tuneforge.config import RunConfig
from tuneforge.data._conll import read_conll
from tuneforge.data._excel import read_excel
from tuneforge.data._folder import read_folder
from tuneforge.data._labels import parse_label
from tuneforge.data._tabular import RawRow, read_delimited, read_jsonl, read_parquet
from tuneforge.data._token_table import sentences_of_token_rows, token_table_records
from tuneforge.data.builtin import is_builtin, resolve_builtin
from tuneforge.data.derived import DERIVED_DATASETS, load_derived
from tuneforge.data.quarantine import EMPTY_TEXT, invalid_text_reason
from tuneforge.data.records import QuarantinedRow, Record
from tuneforge.errors import DataError

_SETTINGS = {
    "train": "data.source",
    "validation": "data.validation_source",
    "test": "data.test_source",
    "evaluation": "--data",
}
# Where NER rows can come from: token files, or tables whose cells hold lists.
_TOKEN_FORMATS = ("conll", "jsonl", "parquet", "csv", "tsv", "excel")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
    ".conll": "conll",
    ".bio": "conll",
    ".iob": "conll",
    ".txt": "conll",
}


def load_records(
    source: str, config: RunConfig, role: str = "train"
) -> tuple[list[Record], list[QuarantinedRow]]:
    """Read ``source`` into records of the task's label type.

    Args:
        source: a path (resolved against the config's folder) or ``builtin:<name>``.
        config: the run config; ``data`` says the format, columns and encoding, ``task.type``
            the label type.
        role: ``train``, ``validation`` or ``test``; names the config key in messages.

    Returns:
        The usable records in file order, and the rows set aside with their reason (empty
        text, missing or unparsable label, undecodable file in a folder, malformed CSV line).

    Raises:
        DataError: the source is missing, empty, in an unknown format, lacks a column, has
            undecodable bytes or a malformed CoNLL line, or its format does not fit the task.
    """
    setting = _SETTINGS.get(role, "data.source")
    derived_name = source.removeprefix("builtin:")
    if is_builtin(source) and derived_name in DERIVED_DATASETS:
        return load_derived(derived_name, config, role)
    path, fmt = _locate(source, config, setting)
    task_type, kind = config.task.type, config.task.label_kind
    if (fmt == "conll" and kind != "tags") or (kind == "tags" and fmt not in _TOKEN_FORMATS):
        raise DataError(
            f"{path}: {setting} is read as {fmt} but task.type is {task_type}. NER needs a "
            "CoNLL/BIO token file (one token and tag per line) or a table (JSONL, Parquet, CSV, "
            "Excel) with a column of token lists and one of tag lists, and CoNLL files only "
            "hold NER data; set task.type or data.format to match the file."
        )
    if fmt == "conll":
        records, quarantined = read_conll(path, config.data.encoding), []
    elif kind == "tags":
        rows = _read_table(path, fmt, config)
        if config.data.sentence_column:
            rows = sentences_of_token_rows(rows, config.data.sentence_column)
        records, quarantined = token_table_records(path, rows, config.data.labels)
    elif fmt == "folder":
        if kind != "class":
            raise DataError(
                f"{path}: a folder of <label>/*.txt files holds one class per example, which "
                f"fits task.type classification, not {task_type}. Use a CSV/JSONL file instead."
            )
        records, quarantined = read_folder(path, config.data.encoding)
    else:
        records, quarantined = _from_table(_read_table(path, fmt, config), config)
    if not records and not quarantined:
        raise DataError(f"{path} ({setting}) holds no examples. Point it at a file with data.")
    return records, quarantined


def infer_format(path: Path) -> str | None:
    """The loader format for ``path`` from its extension (a directory is ``folder``)."""
    if path.is_dir():
        return "folder"
    return _EXTENSIONS.get(path.suffix.lower())


def _locate(source: str, config: RunConfig, setting: str) -> tuple[Path, str]:
    if is_builtin(source):
        return resolve_builtin(source)
    path = config.resolve_path(source)
    if not path.exists():
        where = f" (resolved against {config.config_dir})" if config.config_dir else ""
        raise DataError(
            f"{setting} {source!r}: {path}{where} does not exist. Check the path, or use a "
            "built-in dataset such as builtin:bbc-news."
        )
    fmt = config.data.format if config.data.format != "auto" else infer_format(path)
    if fmt is None and path.suffix.lower() == ".xls":
        raise DataError(
            f"{path}: an Excel 97-2003 (.xls) workbook, which tuneforge does not read. Save it "
            "as .xlsx (Excel Workbook) or CSV from the spreadsheet program."
        )
    if fmt is None:
        raise DataError(
            f"{path}: cannot tell the format from the extension {path.suffix!r}. Use .csv, .tsv, "
            ".jsonl, .parquet, .xlsx, .conll or a folder, or set data.format explicitly."
        )
    if (fmt == "folder") != path.is_dir():
        kind = "a folder" if path.is_dir() else "a file"
        raise DataError(f"{path} is {kind}, which data.format {fmt!r} cannot read.")
    return path, fmt


def _read_table(path: Path, fmt: str, config: RunConfig) -> list[RawRow]:
    if fmt in ("csv", "tsv"):
        return read_delimited(path, "," if fmt == "csv" else "\t", config.data)
    if fmt == "jsonl":
        return read_jsonl(path, config.data)
    if fmt == "excel":
        return read_excel(path, config.data)
    return read_parquet(path, config.data)


def _from_table(rows: list[RawRow], config: RunConfig) -> tuple[list[Record], list[QuarantinedRow]]:
    records, quarantined = [], []
    data = config.data
    for row in rows:
        if row.problem:
            quarantined.append(QuarantinedRow(row.source, row.problem))
            continue
        if isinstance(row.text, list | tuple | dict):  # JSON or Parquet: not one text
            reason = invalid_text_reason(type(row.text).__name__, data.text_column)
            quarantined.append(QuarantinedRow(row.source, reason, None, _shown(row.label)))
            continue
        text = "" if row.text is None else str(row.text)
        if not text.strip():
            quarantined.append(QuarantinedRow(row.source, EMPTY_TEXT, text, _shown(row.label)))
            continue
        label, reason = parse_label(
            row.label, config.task.label_kind, data.label_separator, row.source, data.label_column
        )
        if reason is not None:
            quarantined.append(QuarantinedRow(row.source, reason, text, _shown(row.label)))
            continue
        records.append(Record(text=text, label=label, source=row.source))
    return records, quarantined


def _shown(value: object) -> str | float | tuple[str, ...] | None:
    """A raw label as it can be written to quarantine.jsonl."""
    if isinstance(value, float) and math.isnan(value):
        return None  # NaN is not valid JSON
    if value is None or isinstance(value, str | float):
        return value
    if isinstance(value, list | tuple):
        return tuple(str(item) for item in value)
    return str(value)
