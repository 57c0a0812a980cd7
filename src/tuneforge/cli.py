"""The `tuneforge` command: parse, load the config, call one function. No logic lives here."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tuneforge.config import TaskConfig
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
RunDirArg = Annotated[Path, typer.Argument(help="A finished run folder (runs/<name>).")]
InputOption = Annotated[Path | None, typer.Option("--input", help="CSV/TSV/JSONL file of texts.")]
TextColumnOption = Annotated[
    str | None, typer.Option(help="Column with the text (default: the run's).")
]
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
    from tuneforge.run.evaluation import evaluate_run

    metrics = evaluate_run(run_dir, data)
    console.print(metrics_table(metrics, title=f"{run_dir.name} on {data or 'test split'}"))
    breakdown = per_class_table(metrics)
    if breakdown is not None:
        console.print(breakdown)


@app.command()
def predict(
    run_dir: RunDirArg,
    text: Annotated[
        list[str] | None, typer.Option("--text", help="A text to predict (repeatable).")
    ] = None,
    input_path: InputOption = None,
    output: Annotated[
        Path | None, typer.Option(help="Where to write predictions (CSV or JSONL).")
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


# --- serve (issue 4) ---
@app.command()
def serve(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Serve config (YAML), e.g. configs/serve/serve.yaml."),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="uvicorn worker processes.")] = None,
    registry: Annotated[
        str | None, typer.Option(help="Registry folder (default $TUNEFORGE_REGISTRY).")
    ] = None,
) -> None:
    """Serve every model of the registry over HTTP (API keys required unless the config says not)."""
    from tuneforge.serve.config import load_serve_config
    from tuneforge.serve.runner import run_server

    run_server(load_serve_config(config, host=host, port=port, workers=workers, registry=registry))


# --- registry and keys (issue 4) ---
registry_app = typer.Typer(
    help="Versioned models: push finished runs, promote stages, list and show versions.",
    no_args_is_help=True,
)
keys_app = typer.Typer(
    help="API keys of the model server: create, list, revoke.", no_args_is_help=True
)
app.add_typer(registry_app, name="registry")
app.add_typer(keys_app, name="keys")

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


@registry_app.command("push")
def registry_push(
    run_dir: Annotated[Path, typer.Argument(help="A finished run folder (runs/<name>).")],
    name: Annotated[str, typer.Option("--name", help="Model name, e.g. news-topic.")],
    description: Annotated[str | None, typer.Option(help="What this version is.")] = None,
    stage: Annotated[
        str | None, typer.Option(help="Stage to put it in: staging, production or archived.")
    ] = None,
    registry: RegistryOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Copy a finished run into the registry as the next immutable version of a model."""
    from tuneforge.registry import open_registry

    with open_registry(registry, database_url) as opened:
        version = opened.push(run_dir, name, description=description, stage=stage)
    profile = "with" if version.lineage.get("reference_profile") else "without (no splits)"
    console.print(
        f"Pushed {version.ref} ({version.stage or 'no stage'}) {profile} a monitoring reference "
        f"profile: {version.artifact_dir}"
    )


@registry_app.command("promote")
def registry_promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[int, typer.Argument(help="Version number.")],
    stage: Annotated[str, typer.Option(help="staging, production or archived.")],
    registry: RegistryOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Move a version to a stage; a new production version archives the previous one."""
    from tuneforge.registry import open_registry

    with open_registry(registry, database_url) as opened:
        promoted = opened.promote(name, version, stage)
    console.print(f"{promoted.ref} is now {promoted.stage}.")


@registry_app.command("list")
def registry_list(
    name: Annotated[str | None, typer.Argument(help="Only this model's versions.")] = None,
    registry: RegistryOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Table of model versions: stage, task, headline test metric, creation time."""
    from tuneforge.registry import open_registry
    from tuneforge.registry.report import versions_table

    with open_registry(registry, database_url) as opened:
        names = [name] if name else opened.list_models()
        versions = [item for model in names for item in opened.versions(model, must_exist=True)]
    console.print(versions_table(versions) if versions else "The registry has no models yet.")


@registry_app.command("show")
def registry_show(
    ref: Annotated[str, typer.Argument(help="name, name@production, name@staging or name@3.")],
    registry: RegistryOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Print a version's metadata, metrics, lineage and robustness summary as JSON."""
    from tuneforge.registry import open_registry

    with open_registry(registry, database_url) as opened:
        version = opened.resolve(ref)
    sys.stdout.write(json.dumps(version.to_dict(), indent=2, ensure_ascii=False) + "\n")


@keys_app.command("create")
def keys_create(
    tenant: Annotated[str, typer.Option(help="Customer the key belongs to, e.g. acme.")],
    models: Annotated[
        str, typer.Option(help="Comma-separated model names the key may call, or '*' for all.")
    ],
    rate_limit: Annotated[
        int | None, typer.Option("--rate-limit", help="Requests per minute (default: no limit).")
    ] = None,
    registry: RegistryOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Create an API key; its secret is printed once (stdout) and only a hash is stored."""
    from tuneforge.registry import open_registry

    with open_registry(registry, database_url) as opened:
        key, token = opened.create_key(tenant, models.split(","), rate_limit)
        unknown = [model for model in key.models if model != "*" and not opened.versions(model)]
    sys.stdout.write(token + "\n")
    console.print(
        f"Key {key.key_id} for tenant {key.tenant} (models: {', '.join(key.models)}). "
        "This is the only time the key is shown: store it now."
    )
    if unknown:
        console.print(f"[yellow]note:[/] no model named {', '.join(unknown)} is registered yet.")


@keys_app.command("list")
def keys_list(registry: RegistryOption = None, database_url: DatabaseUrlOption = None) -> None:
    """Table of API keys (ids, tenants, scopes, limits; never secrets)."""
    from tuneforge.registry import open_registry
    from tuneforge.registry.report import keys_table

    with open_registry(registry, database_url) as opened:
        api_keys = opened.list_keys()
    console.print(keys_table(api_keys) if api_keys else "No API keys yet.")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key id (`tuneforge keys list`).")],
    registry: RegistryOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Revoke an API key at once."""
    from tuneforge.registry import open_registry

    with open_registry(registry, database_url) as opened:
        opened.revoke_key(key_id)
    console.print(f"Revoked key {key_id}.")


# --- compress (issue 5) ---
@app.command()
def compress(
    run_dir: Annotated[Path, typer.Argument(help="A finished run folder (runs/<name>).")],
    method: Annotated[
        str | None,
        typer.Option(
            help="onnx, onnx-int8-dynamic, onnx-int8-static, torch-int8, openvino, "
            "openvino-int8, prune-magnitude, prune-heads or distill."
        ),
    ] = None,
    sweep: Annotated[
        bool, typer.Option("--sweep", help="Every method that applies; one trade-off report.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            help="New run folder (default runs/<run>-<method>); with --sweep, its parent."
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="A compression option: --set calibration_size=256"),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace existing compressed run folders.")
    ] = False,
    skip_training: Annotated[
        bool,
        typer.Option("--skip-training", help="--sweep without methods that fine-tune."),
    ] = False,
) -> None:
    """Compress a finished run (ONNX, int8, pruning, distillation) and measure the trade-off."""
    from tuneforge.compress.command import compress_command

    compress_command(run_dir, method, sweep, output, set_, overwrite, skip_training)


@app.command()
def robustness(
    run_dir: Annotated[Path, typer.Argument(help="A finished classification run (runs/<name>).")],
    attack: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated attacks: typos, charswap, homoglyphs, deepwordbug, synonyms "
            "(default: all)."
        ),
    ] = None,
    budget: Annotated[
        int, typer.Option(help="Model queries per example and attack at most.")
    ] = 100,
    data: Annotated[
        Path | None, typer.Option(help="A labelled file instead of the run's test split.")
    ] = None,
    max_words_fraction: Annotated[
        float, typer.Option(help="Share of an example's words an attack may change.")
    ] = 0.2,
    max_examples: Annotated[
        int, typer.Option(help="Attack a seeded sample of this many examples.")
    ] = 200,
    seed: Annotated[int, typer.Option(help="Seed of the sample and of every attack.")] = 0,
) -> None:
    """Attack a run's classifier; write robustness/ and a model-card section."""
    from tuneforge.robustness import SuiteSettings, run_robustness
    from tuneforge.robustness.attacks import DEFAULT_ATTACKS

    names = tuple(name.strip() for name in attack.split(",")) if attack else DEFAULT_ATTACKS
    settings = SuiteSettings(names, budget, max_words_fraction, seed, max_examples)
    report = run_robustness(run_dir, settings, data)
    console.print(
        f"clean accuracy {report['clean_accuracy']:.3f}; "
        + ", ".join(f"{name} {a['accuracy']:.3f}" for name, a in report["attacks"].items())
    )
    console.print(f"Report written to {run_dir / 'robustness'}")


privacy_app = typer.Typer(help="Privacy of a trained model.", no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")


@privacy_app.command("audit")
def privacy_audit(
    run_dir: Annotated[
        Path, typer.Argument(help="A finished classification or multilabel run (runs/<name>).")
    ],
    shadows: Annotated[int, typer.Option(help="Shadow models for LiRA (at least 2).")] = 4,
    shadow_epochs: Annotated[
        float | None, typer.Option(help="Epochs per shadow model (default: the run's).")
    ] = None,
    max_examples: Annotated[
        int, typer.Option(help="Members and non-members audited at most (each).")
    ] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the sample and the shadows' halves.")] = 0,
    include_validation: Annotated[
        bool,
        typer.Option("--include-validation", help="Count validation rows as non-members too."),
    ] = False,
    variance: Annotated[
        str, typer.Option(help="LiRA variance: auto, fixed or per-example.")
    ] = "auto",
    output: Annotated[
        Path | None, typer.Option(help="Report folder (default <run>/privacy_audit).")
    ] = None,
) -> None:
    """Membership inference (loss threshold and LiRA) against a run; write the audit report."""
    from tuneforge.privacy.audit import AuditSettings, run_audit

    settings = AuditSettings(
        shadows, shadow_epochs, max_examples, seed, include_validation, variance
    )
    report = run_audit(run_dir, settings, output)
    console.print(
        ", ".join(
            f"{name}: AUC {a['auc']:.3f}, TPR@1%FPR {a['tpr_at_1pct_fpr']:.3f}"
            for name, a in report["attacks"].items()
        )
        + f"; empirical ε ≥ {report['epsilon_lower_bound']:.2f}"
        + (
            f" (accountant ε = {report['accountant_epsilon']:.3g})"
            if report["accountant_epsilon"] is not None
            else " (not a DP run)"
        )
    )
    console.print(f"Report written to {output or run_dir / 'privacy_audit'}")


@app.command()
def explain(
    run_dir: RunDirArg,
    text: Annotated[
        list[str] | None, typer.Option("--text", help="A text to explain (repeatable).")
    ] = None,
    input_path: InputOption = None,
    output: Annotated[Path | None, typer.Option(help="Attributions as JSONL.")] = None,
    method: Annotated[
        str | None,
        typer.Option(help="ig, lime, shap or all (default ig; all with --faithfulness)."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="The label to explain (default: the predicted one; all). NER: an entity type "
            "(default: every predicted span)."
        ),
    ] = None,
    html: Annotated[Path | None, typer.Option(help="Write a highlighted HTML page.")] = None,
    faithfulness: Annotated[
        bool, typer.Option("--faithfulness", help="Rank the methods on the run's test split.")
    ] = False,
    n: Annotated[int, typer.Option("--n", help="Test texts for --faithfulness.")] = 200,
    n_steps: Annotated[int, typer.Option(help="Integrated-gradients steps.")] = 50,
    lime_samples: Annotated[int, typer.Option(help="Perturbed texts per LIME text.")] = 500,
    shap_evals: Annotated[int, typer.Option(help="Model calls per SHAP text.")] = 500,
    text_column: TextColumnOption = None,
) -> None:
    """Word attributions (integrated gradients, LIME, SHAP) and their faithfulness."""
    from tuneforge.explain import ExplainSettings
    from tuneforge.explain.command import explain_command

    settings = ExplainSettings(
        n_steps=n_steps, lime_samples=lime_samples, shap_max_evals=shap_evals
    )
    explain_command(
        run_dir,
        text,
        input_path,
        output,
        method,
        target,
        html,
        faithfulness,
        n,
        settings,
        text_column,
    )


@app.command("embed-map")
def embed_map(
    run_dir: RunDirArg,
    method: Annotated[str, typer.Option(help="pca, tsne or umap.")] = "pca",
    split: Annotated[
        str, typer.Option(help="The saved split to map: train, validation, test.")
    ] = "test",
    output: Annotated[
        Path | None, typer.Option(help="Folder for the files (default <run>/explanations).")
    ] = None,
) -> None:
    """Map the run's sentence representations of a split (PNG, interactive HTML, silhouette)."""
    from tuneforge.explain.embedding_map import embed_map_command

    paths = embed_map_command(run_dir, method, split, output)
    console.print(f"Wrote {', '.join(str(p) for p in paths)}")


class _ConfigFirstGroup(typer.core.TyperGroup):
    """`tuneforge federate config.yaml` runs the `run` subcommand; `tuneforge federate
    serve-site ...` the named one (click groups take no positional argument before a
    subcommand, so a leading non-command word is routed to `run`)."""

    def parse_args(self, ctx, args):  # type: ignore[no-untyped-def]
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["run", *args]
        return super().parse_args(ctx, args)


federate_app = typer.Typer(
    cls=_ConfigFirstGroup,
    help="Federated fine-tuning on Flower: sites that never share their data train one model.",
    no_args_is_help=True,
)
app.add_typer(federate_app, name="federate")


@federate_app.command("run")
def federate_run(
    config_path: ConfigArg,
    set_: SetOption = None,
    sites_from: Annotated[
        Path | None,
        typer.Option(help="A folder with one data file per site (instead of partitioning)."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Delete an existing run folder first.")] = False,
) -> None:
    """Simulate the federation's sites on this machine (the config's federated: section) and
    save the global model as a run folder with federated.json and federated.png."""
    from tuneforge.config import load_config
    from tuneforge.federated import federate

    config = load_config(config_path, set_)
    result = federate(
        config, sites_from=sites_from, default_run_name=config_path.stem, overwrite=overwrite
    )
    console.print(f"Federated run saved to {result.run_dir}")


@federate_app.command("coordinate")
def federate_coordinate(
    config_path: ConfigArg,
    set_: SetOption = None,
    sites: Annotated[
        int | None,
        typer.Option(help="How many sites (serve-site processes) train (default federated.sites)."),
    ] = None,
    listen: Annotated[
        str, typer.Option(help="HOST:PORT of the SuperLink the sites connect to.")
    ] = "127.0.0.1:9092",
    site_timeout: Annotated[
        float, typer.Option(help="Seconds to wait for the sites to connect.")
    ] = 600.0,
    max_site_rows: Annotated[
        int | None,
        typer.Option(help="With federated.secure_aggregation: the largest site's training rows."),
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Delete an existing run folder first.")] = False,
) -> None:
    """Coordinate real sites (Flower's deployment runtime): start a SuperLink, run the rounds
    over the sites that `serve-site` connects, and save the global model as a run folder. The
    config's data is the coordinator's own evaluation data."""
    from tuneforge.config import load_config
    from tuneforge.federated.deployment import coordinate

    config = load_config(config_path, set_)
    result = coordinate(
        config,
        sites=sites,
        address=listen,
        site_timeout=site_timeout,
        max_site_rows=max_site_rows,
        default_run_name=config_path.stem,
        overwrite=overwrite,
    )
    console.print(f"Federated run saved to {result.run_dir}")


@federate_app.command("serve-site")
def federate_serve_site(
    config_path: ConfigArg,
    superlink: Annotated[str, typer.Option(help="HOST:PORT of the coordinator's SuperLink.")],
    data: Annotated[Path, typer.Option(help="This site's data file (it never leaves the site).")],
    set_: SetOption = None,
    name: Annotated[
        str | None, typer.Option(help="The site's name in the report (default: the file name).")
    ] = None,
) -> None:
    """Serve one real site: prepare its data file with the config's data section and label set
    and train on it in the coordinator's rounds, until stopped (Ctrl-C or SIGTERM)."""
    from tuneforge.config import load_config
    from tuneforge.federated.deployment import serve_site

    config = load_config(config_path, set_)
    serve_site(config, data=data, superlink=superlink, name=name)


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
