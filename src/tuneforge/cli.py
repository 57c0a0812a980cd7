"""The `tuneforge` command: parse, load the config, call one function. No logic lives here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tuneforge.console import console
from tuneforge.errors import TuneforgeError

app = typer.Typer(
    help="Fine-tune pretrained transformers from one YAML config.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
data_app = typer.Typer(help="Look at the data before training.", no_args_is_help=True)
app.add_typer(data_app, name="data")

_state = {"debug": False}

ConfigArg = Annotated[Path, typer.Argument(help="The run config (YAML).")]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config value: --set training.learning_rate=3e-5"),
]


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    _state["debug"] = debug


@app.command()
def init(
    task: Annotated[
        str, typer.Option(help="classification, multilabel, regression or ner")
    ] = "classification",
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the config.")
    ] = Path("config.yaml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config for a task."""
    from tuneforge.templates import write_starter_config

    write_starter_config(task, output, force=force)
    console.print(f"Wrote {output}. Edit data.source, then: tuneforge data inspect {output}")


@data_app.command("inspect")
def data_inspect(config_path: ConfigArg, set_: SetOption = None) -> None:
    """Load, clean and split the data; print and write the data report."""
    from tuneforge.config import load_config
    from tuneforge.data_inspection import inspect_data

    config = load_config(config_path, set_)
    folder = inspect_data(config, default_run_name=config_path.stem)
    console.print(f"Data report and quarantine written to {folder}")


@app.command()
def train(
    config_path: ConfigArg,
    set_: SetOption = None,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted run from its last checkpoint.")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Delete an existing run folder first.")] = False,
) -> None:
    """Fine-tune, evaluate and save a model as the config says."""
    from tuneforge.config import load_config
    from tuneforge.pipeline import run

    config = load_config(config_path, set_)
    run(config, default_run_name=config_path.stem, resume=resume, overwrite=overwrite)


@app.command()
def evaluate(
    run_dir: Annotated[Path, typer.Argument(help="A finished run folder (runs/<name>).")],
    data: Annotated[
        Path | None,
        typer.Option(help="Another labelled file, read with the run's column settings."),
    ] = None,
) -> None:
    """Score a run on its test split or on another labelled file."""
    from tuneforge.evaluate import metrics_table, per_class_table
    from tuneforge.evaluate.run_evaluation import evaluate_run

    metrics = evaluate_run(run_dir, data)
    console.print(metrics_table(metrics, title=f"{run_dir.name} on {data or 'test split'}"))
    breakdown = per_class_table(metrics)
    if breakdown is not None:
        console.print(breakdown)


@app.command()
def predict(
    run_dir: Annotated[Path, typer.Argument(help="A finished run folder (runs/<name>).")],
    text: Annotated[
        list[str] | None, typer.Option("--text", help="A text to predict (repeatable).")
    ] = None,
    input_path: Annotated[
        Path | None, typer.Option("--input", help="CSV/TSV/JSONL file of texts.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Where to write predictions (CSV or JSONL).")
    ] = None,
    text_column: Annotated[
        str | None, typer.Option(help="Column with the text (default: the run's).")
    ] = None,
) -> None:
    """Predict labels for texts given on the command line or in a file."""
    from tuneforge.batch_prediction import predict_file
    from tuneforge.predict import load_predictor

    if bool(text) == bool(input_path):
        raise TuneforgeError("Give either --text (one or more) or --input FILE with --output FILE.")
    if text:
        predictions = load_predictor(run_dir).predict(list(text))
        sys.stdout.write(json.dumps(predictions, indent=2, ensure_ascii=False) + "\n")
        return
    if output is None:
        raise TuneforgeError(
            "--input needs --output FILE (.csv, .tsv or .jsonl) for the predictions."
        )
    count = predict_file(run_dir, input_path, output, text_column)
    console.print(f"Wrote {count} predictions to {output}")


@app.command()
def quickstart(
    output_dir: Annotated[Path, typer.Option(help="Parent folder of the run.")] = Path("runs"),
) -> None:
    """Fine-tune all-MiniLM-L6-v2 on BBC News offline, evaluate it and predict a few sentences."""
    from tuneforge.quickstart import run_quickstart

    run_quickstart(output_dir)


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
    from tuneforge.train import TrainingInterrupted

    return TrainingInterrupted


def _click_errors() -> tuple[type[Exception], ...]:
    """Usage errors (missing argument, unknown option). Recent typer raises those of its bundled
    click copy, based on typer.TyperException; older typer raises click's own."""
    import typer

    errors: list[type[Exception]] = [typer.TyperException]
    try:
        import click
    except ImportError:
        return tuple(errors)
    return (*errors, click.ClickException)
