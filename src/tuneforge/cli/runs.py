"""Commands that make and use runs: init, train, tune, evaluate, predict, quickstart."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tuneforge.cli.app import (
    ConfigArg,
    InputOption,
    RunDirArg,
    SetOption,
    TextColumnOption,
    app,
)
from tuneforge.config import TaskConfig
from tuneforge.console import console
from tuneforge.errors import TuneforgeError


@app.command()
def init(
    task: Annotated[
        str, typer.Option(help="classification, multilabel, regression or ner")
    ] = TaskConfig().type,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the config.")
    ] = Path("config.yaml"),
    force: Annotated[bool, typer.Option(help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config for a task."""
    from tuneforge.templates import write_starter_config

    write_starter_config(task, output, force=force)
    console.print(f"Wrote {output}. Edit data.source, then: tuneforge data inspect {output}")


@app.command()
def train(
    config_path: ConfigArg,
    set_: SetOption = None,
    resume: Annotated[
        bool, typer.Option(help="Continue an interrupted run from its last checkpoint.")
    ] = False,
    overwrite: Annotated[bool, typer.Option(help="Delete an existing run folder first.")] = False,
    nproc: Annotated[
        int,
        typer.Option(
            min=1,
            help="Data-parallel processes: on this machine (torchrun; gloo/nccl), or Ray "
            "workers with --ray-address.",
        ),
    ] = 1,
    ray_address: Annotated[
        str | None,
        typer.Option(help="Train on a Ray cluster (Ray Train): its address, or 'local'."),
    ] = None,
) -> None:
    """Fine-tune, evaluate and save a model as the config says."""
    from tuneforge.config import load_config
    from tuneforge.pipeline import run

    config = load_config(config_path, set_)  # a config error is reported once, before launching
    if ray_address is not None:
        from tuneforge.launch import launch_on_ray

        # Ray workers do not start in this folder: a relative output.dir is made absolute.
        output = f"output.dir={Path(config.output.dir).resolve()}"
        launch_on_ray(
            ray_address,
            nproc,
            str(config_path.resolve()),
            [*(set_ or []), output],
            resume=resume,
            overwrite=overwrite,
        )
        return
    if nproc > 1:
        from tuneforge.launch import launch_data_parallel

        args = ["train", str(config_path), *(f"--set={value}" for value in set_ or [])]
        args += ["--resume"] * resume + ["--overwrite"] * overwrite
        raise typer.Exit(launch_data_parallel(nproc, args))
    run(config, default_run_name=config_path.stem, resume=resume, overwrite=overwrite)


@app.command()
def tune(
    config_path: ConfigArg,
    set_: SetOption = None,
    trials: Annotated[int | None, typer.Option(help="Trials to finish (search.trials).")] = None,
    timeout: Annotated[
        str | None, typer.Option(help="Start no trial after this long: 3600, 90m, 2h.")
    ] = None,
    jobs: Annotated[
        int | None, typer.Option(help="Trials at once, one process each (search.jobs).")
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="optuna (default) or ray (search.backend).")
    ] = None,
    ray_address: Annotated[
        str | None, typer.Option(help="Ray cluster for --backend ray (search.ray_address).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue a killed or finished study.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Delete an existing study folder first.")] = False,
    output: Annotated[
        Path | None, typer.Option(help="Study folder (default runs/<config>-study).")
    ] = None,
) -> None:
    """Search hyper-parameters (the config's search: section) on the validation split; the best
    trial is re-run as a normal run folder and scored on the test split once."""
    from tuneforge.config import load_config
    from tuneforge.tune.space import parse_duration
    from tuneforge.tune.study import default_study_dir, run_study

    overrides = list(set_ or [])
    overrides += [f"search.trials={trials}"] if trials is not None else []
    overrides += [f"search.timeout={parse_duration(timeout)}"] if timeout is not None else []
    overrides += [f"search.jobs={jobs}"] if jobs is not None else []
    overrides += [f"search.backend={backend}"] if backend is not None else []
    overrides += [f"search.ray_address={ray_address}"] if ray_address is not None else []
    config = load_config(config_path, overrides)
    study_dir = output or default_study_dir(config, config_path)
    from tuneforge.training import TrainingInterrupted

    try:
        result = run_study(config, study_dir, resume=resume, overwrite=overwrite)
    except TrainingInterrupted:
        console.print(
            f"[yellow]Search interrupted. Continue with: tuneforge tune {config_path} --resume "
            f"--output {study_dir}[/]"
        )
        raise typer.Exit(130) from None
    console.print(
        f"Best trial {result.best_trial} ({result.best_params}); its run: {result.best_run_dir}. "
        f"Report: {study_dir / 'summary.md'}"
    )


@app.command("tune-dashboard")
def tune_dashboard(
    study_dir: Annotated[Path, typer.Argument(help="A study folder (runs/<config>-study).")],
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option(help="Port.")] = 8080,
) -> None:
    """Browse a study in Optuna's dashboard (also while it runs)."""
    from wsgiref.simple_server import make_server

    from tuneforge.tune.report import dashboard_app

    server = make_server(host, port, dashboard_app(study_dir))
    console.print(f"Optuna dashboard of {study_dir} on http://{host}:{port} (Ctrl-C stops it)")
    server.serve_forever()


@app.command("tune-report")
def tune_report(
    study_dir: Annotated[Path, typer.Argument(help="A study folder (runs/<config>-study).")],
) -> None:
    """Rewrite and print a study's summary and plots (also while it runs)."""
    from tuneforge.tune import study_report

    study_report(study_dir)


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
    from tuneforge.run import layout
    from tuneforge.run.evaluation import evaluate_run, evaluation_name

    metrics = evaluate_run(run_dir, data)
    console.print(metrics_table(metrics, title=f"{run_dir.name} on {data or 'test split'}"))
    breakdown = per_class_table(metrics)
    if breakdown is not None:
        console.print(breakdown)
    name = evaluation_name(data)
    console.print(f"Saved to {run_dir / layout.evaluation_file(name)}")
    if metrics.get("skipped_rows"):
        console.print(
            f"{metrics['skipped_rows']} row(s) could not be scored; they are listed with their "
            f"reason in {run_dir / layout.evaluation_quarantine_file(name)}"
        )


@app.command()
def predict(
    run_dir: RunDirArg,
    text: Annotated[
        list[str] | None, typer.Option("--text", help="A text to predict (repeatable).")
    ] = None,
    input_path: InputOption = None,
    output: Annotated[
        Path | None, typer.Option(help="Where to write predictions (CSV, TSV, JSONL or .xlsx).")
    ] = None,
    text_column: TextColumnOption = None,
) -> None:
    """Predict labels for texts given on the command line or in a file."""
    from tuneforge.predict import load_predictor
    from tuneforge.run.batch_prediction import predict_file

    if bool(text) == bool(input_path):
        raise TuneforgeError("Give either --text (one or more) or --input FILE with --output FILE.")
    if text:
        predictions = load_predictor(run_dir).predict(list(text))
        sys.stdout.write(json.dumps(predictions, indent=2, ensure_ascii=False) + "\n")
        return
    if output is None:
        raise TuneforgeError(
            "--input needs --output FILE (.csv, .tsv, .jsonl or .xlsx) for the predictions."
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
