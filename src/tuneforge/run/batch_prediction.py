"""`tuneforge predict --input`: predictions for every row of a file, written beside its columns."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

from tuneforge.errors import DataError

_CHUNK_ROWS = 1024  # rows per model call: bounded memory for files of any size


def predict_file(
    run_dir: Path, input_path: Path, output_path: Path, text_column: str | None = None
) -> int:
    """Predict each row's text and write the input rows plus prediction columns; returns the count."""
    import pandas as pd

    from tuneforge.predict import load_predictor

    suffix = output_path.suffix.lower()
    # Checked before any work: a typo in --output must not cost a whole prediction pass.
    if suffix not in {".jsonl", ".ndjson", ".csv", ".tsv", ".xlsx"}:
        raise DataError(f"--output {output_path}: use a .csv, .tsv, .jsonl or .xlsx file name.")
    column = text_column or run_text_column(run_dir)
    frame = read_table(input_path, column)
    if column not in frame.columns:
        raise DataError(
            f"{input_path}: no column {column!r} (columns: {', '.join(map(str, frame.columns))}). "
            "Pass --text-column NAME."
        )
    texts = frame[column].fillna("").astype(str).tolist()
    predictor = load_predictor(run_dir)
    predictions: list[dict[str, Any]] = []
    for start in range(0, len(texts), _CHUNK_ROWS):
        predictions.extend(predictor.predict(texts[start : start + _CHUNK_ROWS]))
    flat = pd.DataFrame([_flatten(p) for p in predictions], index=frame.index)
    result = pd.concat([frame, flat.add_prefix("predicted_")], axis=1)
    output_path.parent.mkdir(parents=True, exist_ok=True)
    if suffix in {".jsonl", ".ndjson"}:
        result.to_json(output_path, orient="records", lines=True, force_ascii=False)
    elif suffix == ".xlsx":
        result.to_excel(output_path, index=False, engine="openpyxl")
    else:
        result.to_csv(output_path, index=False, sep="\t" if suffix == ".tsv" else ",")
    return len(predictions)


def run_text_column(run_dir: Path) -> str:
    import yaml

    config_path = Path(run_dir) / "config.yaml"
    if config_path.is_file():
        saved = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        return saved.get("data", {}).get("text_column", "text")
    return "text"


def read_table(path: Path, text_column: str | None = None) -> Any:
    """The rows of a CSV, TSV, JSONL or Excel file as strings. Of a workbook's sheets, the
    first that has `text_column` (the first sheet when none has or none is given)."""
    import pandas as pd

    if not path.is_file():
        raise DataError(f"--input {path} does not exist.")
    suffix = path.suffix.lower()
    try:
        # Cells are passed through to the output as they are: no type guessing ("007" would
        # become 7, a created_at column epoch milliseconds) and no NA guessing (a text "NA" or
        # "null" is predicted as written).
        if suffix in {".jsonl", ".ndjson"}:
            return pd.read_json(path, lines=True, dtype=False)
        if suffix in {".csv", ".tsv"}:
            from tuneforge.data.delimiters import sniff_delimiter

            with path.open(encoding="utf-8", errors="replace") as handle:
                head = handle.read(1 << 16)  # the header is what decides
            expected = "\t" if suffix == ".tsv" else ","
            separator = sniff_delimiter(path, head, expected, setting=None)
            return pd.read_csv(path, sep=separator, dtype=str, keep_default_na=False)
        if suffix in {".xlsx", ".xlsm"}:
            with pd.ExcelFile(path, engine="openpyxl") as workbook:
                # Headers first (openpyxl reads a sheet in read-only mode and stops after
                # nrows): only the sheet that is predicted is read whole.
                names = workbook.sheet_names
                chosen = next(
                    (
                        name
                        for name in names
                        if text_column in workbook.parse(name, nrows=0).columns
                    ),
                    names[0],
                )
                return workbook.parse(chosen, dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
        raise DataError(f"--input {path}: cannot be read ({exc}).") from exc
    raise DataError(f"--input {path}: use a .csv, .tsv, .jsonl or .xlsx file.")


def _flatten(prediction: dict[str, Any]) -> dict[str, Any]:
    """Scalars stay columns; lists and mappings become JSON text (multilabel labels joined by |)."""
    flat = {}
    for key, value in prediction.items():
        if key == "labels" and isinstance(value, list):
            flat[key] = "|".join(value)
        elif isinstance(value, (list, dict)):
            flat[key] = json.dumps(value, ensure_ascii=False)
        else:
            flat[key] = value
    return flat
