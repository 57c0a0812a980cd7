"""What `tuneforge compress` does and prints, so that the CLI stays a parser."""

from __future__ import annotations

from pathlib import Path

from tuneforge.compress.methods import options_from_overrides
from tuneforge.console import console
from tuneforge.errors import TuneforgeError


def compress_command(
    run_dir: Path,
    method: str | None,
    sweep: bool,
    output: Path | None,
    overrides: list[str] | None,
    overwrite: bool,
    skip_training: bool,
) -> None:
    """Run one method (or the sweep) and print the trade-off table."""
    from rich.markdown import Markdown

    from tuneforge.compress.report import tradeoff_markdown, tradeoff_rows
    from tuneforge.compress.run import compress_run
    from tuneforge.compress.sweep import REPORT_DIR, sweep_run
    from tuneforge.run.info import read_run_info
    from tuneforge.run.layout import MODEL_DIR

    if bool(method) == sweep:
        raise TuneforgeError("Give either --method NAME or --sweep (every method).")
    options = options_from_overrides(overrides)
    if sweep:
        report = sweep_run(
            run_dir, options, output_root=output, skip_training=skip_training, overwrite=overwrite
        )
        console.print(Markdown(tradeoff_markdown(report["rows"])))
        for name, reason in report["failed"].items():
            console.print(f"[yellow]{name} not applied:[/] {reason}", highlight=False)
        console.print(f"[green]Trade-off report written to {run_dir / REPORT_DIR}[/]")
        return
    original, compressed = compress_run(run_dir, str(method), options, output, overwrite=overwrite)
    task_type = read_run_info(compressed.run_dir / MODEL_DIR).task
    console.print(Markdown(tradeoff_markdown(tradeoff_rows(task_type, [original, compressed]))))
    console.print(f"[green]Compressed run saved to {compressed.run_dir}[/]")
