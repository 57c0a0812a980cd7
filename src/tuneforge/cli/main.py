"""The console-script entry point: user errors print one paragraph and exit 2."""

from __future__ import annotations

import sys

from tuneforge.cli.app import app
from tuneforge.console import console
from tuneforge.errors import TuneforgeError


def main() -> None:
    """Entry point: user errors print one paragraph and exit 2; --debug shows the traceback."""
    from rich.markup import escape

    debug = "--debug" in sys.argv
    try:
        exit_code = app(standalone_mode=False)
    except TuneforgeError as error:
        if debug:
            raise
        # Escaped: a path or value in the message like data/[old]/x.csv is text, not rich markup.
        console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except _click_errors() as error:  # before the next clause, which imports torch
        error.show()
        sys.exit(getattr(error, "exit_code", 2))
    except _training_interrupted() as error:
        console.print(
            f"[yellow]{escape(str(error))} Continue with: tuneforge train <config> --resume[/]"
        )
        sys.exit(130)
    except KeyboardInterrupt:
        console.print("[yellow]Interrupted.[/]")
        sys.exit(130)
    # Without standalone mode typer returns, not raises, the code of an exit: Ctrl-C outside the
    # training loop comes back as 130 and must not end the process with status 0.
    if isinstance(exit_code, int) and exit_code != 0:
        if exit_code == 130:
            console.print("[yellow]Interrupted.[/]")
        sys.exit(exit_code)


def _training_interrupted() -> type[Exception]:
    from tuneforge.training import TrainingInterrupted

    return TrainingInterrupted


def _click_errors() -> tuple[type[Exception], ...]:
    """Usage errors (missing argument, unknown option). Recent typer raises those of its bundled
    click copy, based on typer.TyperException; older typer raises click's own."""
    import typer

    # typer < 0.21 (which the federated extra's Flower pins) has no TyperException.
    bundled = getattr(typer, "TyperException", None)
    errors: list[type[Exception]] = [bundled] if bundled is not None else []
    try:
        import click
    except ImportError:
        return tuple(errors)
    return (*errors, click.ClickException)
