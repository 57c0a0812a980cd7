"""The layout of a run folder: its file names, creating it safely, and the splits it keeps."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import yaml

from tuneforge.config import RunConfig
from tuneforge.data.records import Record
from tuneforge.errors import RunError

MODEL_DIR = "model"
INFO_FILE = "tuneforge.json"
"""Inside MODEL_DIR: the typed model description (run/info.py)."""
CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
DATA_REPORT_FILE = "data_report.json"
QUARANTINE_FILE = "quarantine.jsonl"
ANONYMIZATION_REPORT_FILE = "anonymization_report.json"
HISTORY_FILE = "history.jsonl"
MODEL_CARD_FILE = "model_card.md"
CHECKPOINTS_DIR = "checkpoints"
SPLITS_DIR = "splits"
ROBUSTNESS_DIR = "robustness"
"""`tuneforge robustness` output: ROBUSTNESS_FILE, robustness.md and robustness.png."""
ROBUSTNESS_FILE = "robustness.json"
PRIVACY_AUDIT_DIR = "privacy_audit"
"""`tuneforge privacy audit` output: PRIVACY_AUDIT_FILE, audit.md and roc.png."""
PRIVACY_AUDIT_FILE = "audit.json"
EXPLANATIONS_DIR = "explanations"
"""`tuneforge explain --faithfulness` and `embed-map` output (explain/report.py)."""
ROBUSTNESS_EXAMPLES_STEM = "examples"
"""Inside ROBUSTNESS_DIR: examples.json and examples.md, the texts of successful attacks."""


_EVALUATION_PREFIX = "evaluation_"
_SKIPPED_SUFFIX = "_quarantine.jsonl"


def evaluation_file(name: str) -> str:
    """`tuneforge evaluate --data FILE`'s metrics (numbers only), beside the run's files."""
    return f"{_EVALUATION_PREFIX}{name}.json"


def evaluation_quarantine_file(name: str) -> str:
    """The rows of `tuneforge evaluate --data FILE` that could not be scored, with their text."""
    return f"{_EVALUATION_PREFIX}{name}{_SKIPPED_SUFFIX}"


def holds_data_rows(relative: Path) -> bool:
    """Whether a run file (relative to the run folder) holds texts of the user's data.

    The saved splits and the quarantines (of training, and of `evaluate --data`) are rows of it;
    the explanation pages and the robustness examples quote them. They stay in the run folder, where whoever trained can read them; a
    registry version leaves them out unless asked (registry/artifacts.run_files), since a model is
    shared and served from there: a DP model beside its raw training rows would undo its promise.
    """
    parts = relative.parts
    if not parts:
        return False
    top = parts[0]
    return (
        top in (SPLITS_DIR, QUARANTINE_FILE)
        or (
            len(parts) == 1 and top.startswith(_EVALUATION_PREFIX) and top.endswith(_SKIPPED_SUFFIX)
        )
        or (top == EXPLANATIONS_DIR and relative.suffix == ".html")
        or (top == ROBUSTNESS_DIR and relative.stem == ROBUSTNESS_EXAMPLES_STEM)
    )


def is_finished(run_dir: Path) -> bool:
    return (run_dir / METRICS_FILE).is_file() and (run_dir / MODEL_DIR / INFO_FILE).is_file()


def prepare_run_dir(run_dir: Path, config: RunConfig, resume: bool, overwrite: bool) -> None:
    """Create the run folder, refusing to clobber a finished run or an unfinished one silently."""
    if run_dir.exists() and overwrite:
        shutil.rmtree(run_dir)
    elif run_dir.exists() and not _stopped_before_training(run_dir):
        if is_finished(run_dir) and not resume:
            raise RunError(
                f"{run_dir} already holds a finished run. Pass --overwrite to replace it, or set "
                "output.run_name to start a new one."
            )
        if not resume:
            raise RunError(
                f"{run_dir} holds an unfinished run. Pass --resume to continue it, or --overwrite "
                "to start over."
            )
        _check_same_setup(run_dir, config)
    run_dir.mkdir(parents=True, exist_ok=True)


# What `run` writes before the first training step. A folder holding nothing else was stopped by
# a problem in the data or the model (or is empty): there is nothing to resume or to lose, and
# refusing it would make a user who fixed the problem pass --overwrite for no reason.
_WRITTEN_BEFORE_TRAINING = frozenset({CONFIG_FILE, QUARANTINE_FILE, DATA_REPORT_FILE, SPLITS_DIR})


def _stopped_before_training(run_dir: Path) -> bool:
    return all(
        entry.name in _WRITTEN_BEFORE_TRAINING or entry.name.endswith(".tmp")
        for entry in run_dir.iterdir()
    )


def _check_same_setup(run_dir: Path, config: RunConfig) -> None:
    """A resumed run must train the same model on the same data; other changes are allowed."""
    saved_path = run_dir / CONFIG_FILE
    if not saved_path.is_file():
        return
    saved = yaml.safe_load(saved_path.read_text(encoding="utf-8")) or {}
    current = config.model_dump(mode="json")
    changed = [
        f"{section}.{key}"
        for section in ("model", "task", "adaptation")
        for key, value in current[section].items()
        if saved.get(section, {}).get(key) != value
    ]
    if changed:
        raise RunError(
            f"Cannot resume {run_dir}: the config changed since it started ({', '.join(changed)}). "
            "Restore those settings, or use --overwrite to start over."
        )


def write_records(path: Path, records: list[Record]) -> None:
    """Save a split as JSONL so that `tuneforge evaluate` re-reads exactly the same examples."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            row = {"text": record.text, "label": record.label, "source": record.source}
            if record.tokens is not None:
                row["tokens"] = list(record.tokens)
            if record.augmented:
                row["augmented"] = True
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_records(path: Path) -> list[Record]:
    records = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            row = json.loads(line)
            label = row["label"]
            if isinstance(label, list):
                label = tuple(label)
            tokens = tuple(row["tokens"]) if "tokens" in row else None
            records.append(
                Record(text=row["text"], label=label, source=row["source"], tokens=tokens)
            )
    return records


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in history), encoding="utf-8")
