"""Serving and the registry: serve, registry push/promote/list/show, keys create/list/revoke."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tuneforge.cli.app import (
    DatabaseUrlOption,
    RegistryOption,
    app,
)
from tuneforge.console import console


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


@registry_app.command("push")
def registry_push(
    run_dir: Annotated[Path, typer.Argument(help="A finished run folder (runs/<name>).")],
    name: Annotated[str, typer.Option("--name", help="Model name, e.g. news-topic.")],
    description: Annotated[str | None, typer.Option(help="What this version is.")] = None,
    stage: Annotated[
        str | None, typer.Option(help="Stage to put it in: staging, production or archived.")
    ] = None,
    with_data: Annotated[
        bool,
        typer.Option(
            "--with-data",
            help="Also copy the files holding texts of the data (splits/, the quarantines, "
            "explanation pages, robustness examples); by default they stay with the run.",
        ),
    ] = False,
    registry: RegistryOption = None,
    database_url: DatabaseUrlOption = None,
) -> None:
    """Copy a finished run into the registry as the next immutable version of a model."""
    from tuneforge.registry import open_registry

    with open_registry(registry, database_url) as opened:
        version = opened.push(
            run_dir, name, description=description, stage=stage, with_data=with_data
        )
    profile = "with" if version.lineage.get("reference_profile") else "without (no splits)"
    console.print(
        f"Pushed {version.ref} ({version.stage or 'no stage'}) {profile} a monitoring reference "
        f"profile: {version.artifact_dir}"
    )
    left_out = version.lineage["data_rows_left_out"]
    if left_out:
        folders = sorted({path.split("/")[0] + ("/" if "/" in path else "") for path in left_out})
        console.print(
            f"Left {len(left_out)} file(s) holding texts of the data with the run "
            f"({', '.join(folders)}); --with-data copies them too."
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
