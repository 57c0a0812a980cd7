"""The root `tuneforge` app and the arguments and options its commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    help="Fine-tune pretrained transformers from one YAML config.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ConfigArg = Annotated[Path, typer.Argument(help="The run config (YAML).")]
RunDirArg = Annotated[Path, typer.Argument(help="A finished run folder (runs/<name>).")]
InputOption = Annotated[Path | None, typer.Option("--input", help="CSV/TSV/JSONL file of texts.")]
TextColumnOption = Annotated[
    str | None, typer.Option(help="Column with the text (default: the run's).")
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a config value: --set training.learning_rate=3e-5"),
]

RegistryOption = Annotated[
    Path | None,
    typer.Option(
        "--registry",
        help="Registry folder (default: $TUNEFORGE_REGISTRY, else ~/.tuneforge/registry).",
    ),
]
DatabaseUrlOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL of the metadata database, e.g. postgresql+psycopg://user@host/db "
        "(default: $TUNEFORGE_REGISTRY_DATABASE_URL, else registry.db in the registry folder).",
    ),
]


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Declares --debug; main() reads it from sys.argv, before typer parses anything."""
