"""`tuneforge federate`: federated fine-tuning on Flower (simulated or real sites)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tuneforge.cli.app import (
    ConfigArg,
    SetOption,
    app,
)
from tuneforge.console import console


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
    ssl_ca_certfile: Annotated[
        Path | None, typer.Option(help="TLS: the CA certificate the sites verify against.")
    ] = None,
    ssl_certfile: Annotated[
        Path | None, typer.Option(help="TLS: the SuperLink's certificate (PEM).")
    ] = None,
    ssl_keyfile: Annotated[
        Path | None, typer.Option(help="TLS: the SuperLink's private key (PEM).")
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(help="Plain text, no TLS (needed for a non-loopback --listen without TLS)."),
    ] = False,
    site_key: Annotated[
        list[Path] | None,
        typer.Option(
            help="Admit only sites holding these keys: a site's public key (.pub) or a folder "
            "of them (repeatable; needs TLS). Sites make theirs with `federate site-key`."
        ),
    ] = None,
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
        ssl_ca_certfile=ssl_ca_certfile,
        ssl_certfile=ssl_certfile,
        ssl_keyfile=ssl_keyfile,
        insecure=insecure,
        site_keys=site_key,
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
    root_certificates: Annotated[
        Path | None,
        typer.Option(help="TLS: the CA certificate to verify the coordinator's SuperLink with."),
    ] = None,
    insecure: Annotated[
        bool,
        typer.Option(
            help="Plain text, no TLS (needed for a non-loopback --superlink without TLS)."
        ),
    ] = False,
    site_key: Annotated[
        Path | None,
        typer.Option(
            help="This site's private key, for a coordinator that admits registered sites "
            "only (`federate site-key` makes the pair; the coordinator gets the .pub file)."
        ),
    ] = None,
) -> None:
    """Serve one real site: prepare its data file with the config's data section and label set
    and train on it in the coordinator's rounds, until stopped (Ctrl-C or SIGTERM)."""
    from tuneforge.config import load_config
    from tuneforge.federated.deployment import serve_site

    config = load_config(config_path, set_)
    serve_site(
        config,
        data=data,
        superlink=superlink,
        name=name,
        root_certificates=root_certificates,
        insecure=insecure,
        site_key=site_key,
    )


@federate_app.command("certificates")
def federate_certificates(
    out: Annotated[Path, typer.Option(help="Folder for ca.crt, ca.key, server.pem, server.key.")],
    host: Annotated[
        list[str],
        typer.Option(help="A name or address the sites reach the coordinator by (repeatable)."),
    ],
    days: Annotated[int, typer.Option(help="Days the certificates are valid.", min=1)] = 365,
) -> None:
    """Make a CA and a SuperLink certificate for trying TLS out (use your organisation's PKI
    in production): the coordinator gets all four files' paths but ca.key (keep it offline),
    each site gets ca.crt."""
    from tuneforge.federated.tls import write_certificates

    paths = write_certificates(out, host, days)
    console.print(
        "coordinator: tuneforge federate coordinate CONFIG --listen 0.0.0.0:9092 "
        f"--ssl-ca-certfile {paths['ca.crt']} --ssl-certfile {paths['server.pem']} "
        f"--ssl-keyfile {paths['server.key']}\n"
        f"each site: tuneforge federate serve-site CONFIG --superlink {host[0]}:9092 "
        f"--root-certificates ca.crt --data FILE   (copy {paths['ca.crt']} there; "
        f"{paths['ca.key']} signs certificates: keep it off the network)"
    )


@federate_app.command("site-key")
def federate_site_key(
    out: Annotated[Path, typer.Option(help="Folder for the key pair.")],
    name: Annotated[str, typer.Option(help="The site's name: the files are NAME and NAME.pub.")],
) -> None:
    """Make this site's key pair for a coordinator that admits registered sites only: NAME
    stays here (serve-site --site-key), NAME.pub goes to the coordinator (coordinate
    --site-key)."""
    from tuneforge.federated.site_keys import write_site_key

    private, public = write_site_key(out, name)
    console.print(
        f"this site: tuneforge federate serve-site CONFIG ... --site-key {private}   "
        f"(keep it here)\ncoordinator: tuneforge federate coordinate CONFIG ... --site-key "
        f"{public.name}   (send it {public})"
    )
