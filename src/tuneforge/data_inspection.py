"""`tuneforge data inspect`: the data stage alone, with its report, before any training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuneforge._atomic import write_json_atomic
from tuneforge.config import RunConfig
from tuneforge.console import console
from tuneforge.run import layout


def inspect_data(config: RunConfig, default_run_name: str = "run") -> Path:
    """Load, clean and split; write the report and quarantine to ``<output.dir>/<name>-data/``."""
    return _data_stage(config, default_run_name)[0]


def augment_data(config: RunConfig, default_run_name: str = "run") -> tuple[Path, int]:
    """The data stage with data.augmentation; also writes the augmented training split to
    ``<name>-data/splits/train.jsonl`` (copies marked "augmented": true) for reading.

    Returns:
        The folder and the number of augmented rows.

    Raises:
        ConfigError: data.augmentation.method is none.
    """
    from tuneforge.errors import ConfigError

    if config.data.augmentation.method == "none":
        raise ConfigError(
            "data.augmentation.method is none: set it to eda or typos (with copies_per_row, "
            "alpha and seed) to see the augmented training split."
        )
    folder, data = _data_stage(config, default_run_name)
    train = data.records("train")
    layout.write_records(folder / layout.SPLITS_DIR / "train.jsonl", train)
    return folder, sum(record.augmented for record in train)


def _data_stage(config: RunConfig, default_run_name: str) -> tuple[Path, Any]:
    from tuneforge.data import render_data_report, write_quarantine
    from tuneforge.pipeline import prepare_data, save_anonymization_report

    folder = _data_folder(config, default_run_name)
    folder.mkdir(parents=True, exist_ok=True)
    data = prepare_data(config)
    write_quarantine(data.splits.quarantined, folder / layout.QUARANTINE_FILE)
    write_json_atomic(data.report, folder / layout.DATA_REPORT_FILE)
    console.print(render_data_report(data.report))
    save_anonymization_report(folder, data.splits)
    return folder, data


def anonymize_data(
    config: RunConfig, default_run_name: str = "run", dry_run: bool = False
) -> Path | None:
    """`tuneforge data anonymize`: load, anonymise, clean and split; show the report and (unless
    ``dry_run``) write it with the anonymised splits and quarantine to ``<name>-data/``.

    Anonymisation runs even when data.anonymization.enabled is false in the config: asking for
    it on the command line is the point of the command.
    """
    from tuneforge.data import prepare_dataset, render_anonymization_report, write_quarantine
    from tuneforge.pipeline import SPLITS

    settings = config.data.anonymization.model_copy(update={"enabled": True})
    config = config.model_copy(
        update={"data": config.data.model_copy(update={"anonymization": settings})}
    )
    splits = prepare_dataset(config)
    report = splits.anonymization or {}
    console.print(render_anonymization_report(report))
    if dry_run:
        return None
    folder = _data_folder(config, default_run_name)
    folder.mkdir(parents=True, exist_ok=True)
    write_json_atomic(report, folder / layout.ANONYMIZATION_REPORT_FILE)
    write_quarantine(splits.quarantined, folder / layout.QUARANTINE_FILE)
    for split in SPLITS:
        layout.write_records(folder / "anonymized" / f"{split}.jsonl", getattr(splits, split))
    return folder


def _data_folder(config: RunConfig, default_run_name: str) -> Path:
    # A sibling of the run folder, so that inspecting never makes `train` see an unfinished run.
    run_dir = config.run_dir(default_run_name)
    return run_dir.with_name(run_dir.name + "-data")
