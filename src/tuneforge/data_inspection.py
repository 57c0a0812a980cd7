"""`tuneforge data inspect`: the data stage alone, with its report, before any training."""

from __future__ import annotations

from pathlib import Path

from tuneforge._atomic import write_json_atomic
from tuneforge.config import RunConfig
from tuneforge.console import console
from tuneforge.run import layout


def inspect_data(config: RunConfig, default_run_name: str = "run") -> Path:
    """Load, clean and split; write the report and quarantine to ``<output.dir>/<name>-data/``."""
    from tuneforge.data import (
        build_data_report,
        prepare_dataset,
        render_data_report,
        write_quarantine,
    )
    from tuneforge.modeling import load_tokenizer, resolve_model_source

    # A sibling of the run folder, so that inspecting never makes `train` see an unfinished run.
    folder = config.run_dir(default_run_name).with_name(
        config.run_dir(default_run_name).name + "-data"
    )
    folder.mkdir(parents=True, exist_ok=True)
    splits = prepare_dataset(config)
    write_quarantine(splits.quarantined, folder / layout.QUARANTINE_FILE)
    tokenizer = load_tokenizer(resolve_model_source(config.model.name), config.model.revision)
    report = build_data_report(splits, tokenizer, config.model.max_seq_length, config.task.type)
    write_json_atomic(report, folder / layout.DATA_REPORT_FILE)
    console.print(render_data_report(report))
    return folder
