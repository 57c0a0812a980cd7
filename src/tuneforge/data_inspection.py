"""`tuneforge data inspect`: the data stage alone, with its report, before any training."""

from __future__ import annotations

from pathlib import Path

from tuneforge._atomic import write_json_atomic
from tuneforge.config import RunConfig
from tuneforge.console import console
from tuneforge.run import layout


def inspect_data(config: RunConfig, default_run_name: str = "run") -> Path:
    """Load, clean and split; write the report and quarantine to ``<output.dir>/<name>-data/``."""
    from tuneforge.data import render_data_report, write_quarantine
    from tuneforge.pipeline import prepare_data

    # A sibling of the run folder, so that inspecting never makes `train` see an unfinished run.
    folder = config.run_dir(default_run_name).with_name(
        config.run_dir(default_run_name).name + "-data"
    )
    folder.mkdir(parents=True, exist_ok=True)
    data = prepare_data(config)
    write_quarantine(data.splits.quarantined, folder / layout.QUARANTINE_FILE)
    write_json_atomic(data.report, folder / layout.DATA_REPORT_FILE)
    console.print(render_data_report(data.report))
    return folder
