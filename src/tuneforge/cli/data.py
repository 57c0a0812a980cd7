"""`tuneforge data`: look at, anonymise and augment the data before training."""

from __future__ import annotations

from typing import Annotated

import typer

from tuneforge.cli.app import (
    ConfigArg,
    SetOption,
    app,
)
from tuneforge.console import console

data_app = typer.Typer(help="Look at the data before training.", no_args_is_help=True)
app.add_typer(data_app, name="data")


@data_app.command("inspect")
def data_inspect(config_path: ConfigArg, set_: SetOption = None) -> None:
    """Load, clean and split the data; print and write the data report."""
    from tuneforge.config import load_config
    from tuneforge.data_inspection import inspect_data

    config = load_config(config_path, set_)
    folder = inspect_data(config, default_run_name=config_path.stem)
    console.print(f"Data report and quarantine written to {folder}")


@data_app.command("anonymize")
def data_anonymize(
    config_path: ConfigArg,
    dry_run: Annotated[
        bool, typer.Option(help="Only show what would be found; write nothing.")
    ] = False,
    set_: SetOption = None,
) -> None:
    """Find and replace personal data (data.anonymization); print the report and write the
    anonymised splits."""
    from tuneforge.config import load_config
    from tuneforge.data_inspection import anonymize_data

    config = load_config(config_path, set_)
    folder = anonymize_data(config, default_run_name=config_path.stem, dry_run=dry_run)
    if folder is not None:
        console.print(f"Anonymised splits and report written to {folder}")


@data_app.command("augment")
def data_augment(config_path: ConfigArg, set_: SetOption = None) -> None:
    """Run the data stage with data.augmentation; write the augmented training split."""
    from tuneforge.config import load_config
    from tuneforge.data_inspection import augment_data

    config = load_config(config_path, set_)
    folder, added = augment_data(config, default_run_name=config_path.stem)
    console.print(f"{added} augmented training rows; split and data report written to {folder}")
