"""`tuneforge federate coordinate` and `tuneforge federate serve-site`: Flower's deployment
runtime, one process per real site.

The coordinator starts a SuperLink (its state under FLWR_HOME in the run folder, runtime
dependency installation off) and submits the tuneforge Flower app to it with `flwr run`; the
SuperLink runs the app's ServerApp (`coordinate_rounds`) in a process of its own, which scores
the global model on the coordinator's data and writes the run folder. Each site runs a
SuperNode whose ClientApp prepares the site's one data file like a simulated site's. Every
process either side starts is stopped when it returns.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from tuneforge.config import RunConfig, load_config, save_config
from tuneforge.console import console
from tuneforge.errors import ConfigError, DataError, RunError
from tuneforge.federated.report import REPORT_FILE, site_origin
from tuneforge.federated.run import FederatedResult
from tuneforge.federated.site_keys import SiteKey, check_site_private_key, public_site_keys
from tuneforge.federated.tls import coordinator_tls, site_tls
from tuneforge.run import layout

SITE_FAILURE_MARK = "tuneforge site failure: "
"""Starts the line a deployed site's ClientApp writes when a message fails (apps._handle);
`serve-site` shows those lines of the SuperNode's log."""

if TYPE_CHECKING:
    from flwr.app import Context
    from flwr.serverapp import Grid

# The SuperLink connection `flwr run` reads from FLWR_HOME/config.toml.
CONNECTION = "tuneforge"
APP_DIR = "app"
SUPERLINK_LOG = "superlink.log"
# Seconds to wait for a started SuperLink to listen.
_START_TIMEOUT = 60.0


def coordinate(
    config: RunConfig,
    *,
    sites: int | None = None,
    address: str = "127.0.0.1:9092",
    site_timeout: float = 600.0,
    max_site_rows: int | None = None,
    default_run_name: str = "federated",
    overwrite: bool = False,
    ssl_ca_certfile: Path | None = None,
    ssl_certfile: Path | None = None,
    ssl_keyfile: Path | None = None,
    insecure: bool = False,
    site_keys: list[Path] | None = None,
) -> FederatedResult:
    """Run config.federated.rounds rounds over `sites` (default federated.sites) real sites
    (SuperNodes started with `serve-site`) through a SuperLink listening on `address`, and save
    the global model as a run folder. The config's data is the coordinator's own: its
    validation rows score the global model each round, its test rows once at the end.
    With federated.secure_aggregation, `max_site_rows` bounds every site's training rows
    (SecAgg+ quantises each site's weight as a share of it). The SuperLink speaks TLS with the
    three `ssl_*` files (tls.py); plain text only on a loopback address or with `insecure`.
    With `site_keys` (public keys, or folders of them; site_keys.py) only the sites holding
    one of their private keys may join.

    Raises:
        ConfigError: bad address or site count, bad or missing TLS files, plain text on the
            network without `insecure`, bad site keys, site keys without TLS or fewer than
            the sites, the federated extra missing.
        RunError: a site key could not be registered, or the run ended without a global
            model (its log says why).
    """
    from tuneforge.federated.processes import (
        check_port_free,
        flower_command,
        flower_process,
        stop_on_sigterm,
        wait_for_port,
    )
    from tuneforge.federated.runtime import flower_environment, require_flower

    require_flower()
    _check_secure_aggregation(config, max_site_rows)
    host, port = parse_address(address, "--listen")
    tls = coordinator_tls(host, ssl_ca_certfile, ssl_certfile, ssl_keyfile, insecure)
    sites = config.federated.sites if sites is None else sites
    if sites < 1:
        raise ConfigError(f"--sites must be at least 1, not {sites}")
    registered = _site_keys_for(site_keys or [], sites, tls is not None)
    check_port_free(host, port, "--listen")
    run_dir = config.run_dir(default_run_name).resolve()
    layout.prepare_run_dir(run_dir, config, resume=False, overwrite=overwrite)
    save_config(config, run_dir / layout.CONFIG_FILE)
    with flower_environment(run_dir):
        home = run_dir / ".flwr"
        app_dir = write_flower_app(
            home / APP_DIR,
            {
                "run-dir": str(run_dir),
                "sites": sites,
                "site-timeout": site_timeout,
                "max-site-rows": max_site_rows or 0,
            },
        )
        client_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
        if tls is not None:
            client_host = tls.connect_host(client_host)
        _write_connection(home, join_address(client_host, port), tls.ca_certfile if tls else None)
        superlink = [
            flower_command("flower-superlink"),
            *(tls.superlink_arguments() if tls else ["--insecure"]),
            "--host",
            host,
            "--port",
            str(port),
            # The app's dependencies are tuneforge's own, installed here: no `uv sync`.
            "--disable-runtime-dependency-installation",
            *(["--enable-supernode-auth"] if registered else []),
        ]
        with stop_on_sigterm(), flower_process(superlink, home / SUPERLINK_LOG) as process:
            wait_for_port(client_host, port, process, _START_TIMEOUT)
            for key in registered:
                _register_site_key(key)
            if registered:
                console.print(
                    f"{len(registered)} site key(s) registered: "
                    f"{', '.join(key.name for key in registered)}; no other site can join"
                )
            site_option = "--root-certificates CA_CERT" if tls else "--insecure"
            if registered:
                site_option += " --site-key PRIVATE_KEY"
            console.print(
                f"SuperLink on {join_address(host, port)} ({'TLS' if tls else 'plain text'}); "
                f"waiting for "
                f"{sites} site(s): tuneforge federate serve-site CONFIG --superlink HOST:{port} "
                f"{site_option} --data FILE"
            )
            # --stream follows the ServerApp's log until the run ends.
            subprocess.run(
                [flower_command("flwr"), "run", str(app_dir), CONNECTION, "--stream"],
                check=False,
                stdin=subprocess.DEVNULL,
            )
    if not layout.is_finished(run_dir):
        raise RunError(
            "the federated run ended without a global model (see the log above and "
            f"{home / SUPERLINK_LOG})"
        )
    report = json.loads((run_dir / REPORT_FILE).read_text(encoding="utf-8"))
    metrics = json.loads((run_dir / layout.METRICS_FILE).read_text(encoding="utf-8"))
    headline = metrics.get("test") or metrics.get("validation") or {}
    return FederatedResult(run_dir, headline, report)


def coordinate_rounds(grid: Grid, context: Context) -> None:
    """The deployed ServerApp's work, in the process the SuperLink starts: prepare the
    coordinator's data, run the rounds over the connected sites, save the run folder."""
    from tuneforge._process import run_settings
    from tuneforge.federated.exchange import exchanged_names, exchanged_state
    from tuneforge.federated.run import global_evaluator, noise_multiplier, save_federated_run
    from tuneforge.federated.server import ServerLog, run_rounds
    from tuneforge.pipeline import build_model, prepare_data, save_data_outputs

    run_config = context.run_config
    run_dir = Path(str(run_config["run-dir"]))
    sites = int(run_config["sites"])
    config = load_config(run_dir / layout.CONFIG_FILE)
    with run_settings(config.training.num_threads):
        data = prepare_data(config)
        save_data_outputs(run_dir, data)
        model = build_model(config, data)
        names = exchanged_names(model, config.federated.exchange)
        noise = noise_multiplier(config, sites)
        metric = config.training.metric_for_best or data.task.default_metric

        def show(server_round: int, metrics: dict[str, float]) -> None:
            value = metrics.get(metric, float("nan"))
            console.print(f"round {server_round}: global validation {metric} {value:.4f}")

        wait_for_sites(grid, sites, float(run_config["site-timeout"]))
        log = ServerLog()
        common = (
            grid,
            config.federated,
            sites,
            exchanged_state(model, names),
            global_evaluator(config, data, model, show),
            log,
        )
        rounds = config.federated.rounds
        if config.federated.secure_aggregation:
            from tuneforge.federated.secure import run_secure_rounds

            max_site_rows = int(run_config["max-site-rows"])
            run_secure_rounds(*common, context=context, rounds=rounds, max_site_rows=max_site_rows)
        else:
            run_rounds(*common, rounds=rounds, noise_multiplier=noise)
        log.number_sites_by_name()
        origin = site_origin(config, deployed=True)
        save_federated_run(run_dir, config, data, log.site_list(), model, log, noise, origin)


def wait_for_sites(grid: Grid, sites: int, timeout: float) -> None:
    """Wait until `sites` SuperNodes are connected (Flower's strategies wait forever).

    Raises:
        RunError: fewer connected after `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    connected = -1
    while (count := len(list(grid.get_node_ids()))) < sites:
        if count != connected:
            console.print(f"{count} of {sites} site(s) connected")
            connected = count
        if time.monotonic() > deadline:
            raise RunError(f"only {count} of {sites} site(s) connected in {timeout:.0f} s")
        time.sleep(1)
    console.print(f"{sites} site(s) connected")


def serve_site(
    config: RunConfig,
    *,
    data: Path,
    superlink: str,
    name: str | None = None,
    root_certificates: Path | None = None,
    insecure: bool = False,
    site_key: Path | None = None,
) -> None:
    """Prepare this site's data file like a federation's site (the config's cleaning,
    anonymisation and label set) and serve it to the coordinator's SuperLink with a SuperNode,
    until interrupted (Ctrl-C, SIGTERM); the SuperNode and its helpers are stopped then. The
    SuperLink is verified against `root_certificates` (TLS); plain text only on a loopback
    address or with `insecure`. `site_key` is the site's private key, for a coordinator that
    admits registered sites only (site_keys.py).

    Raises:
        ConfigError: a label outside data.labels, no data.labels, a bad address, a bad CA
            certificate or site key, a site key without TLS, plain text on the network
            without `insecure`.
        DataError: the data file is missing or unusable.
        RunError: the SuperNode stopped by itself.
    """
    from tuneforge._net import free_port
    from tuneforge.federated.processes import flower_command, flower_process, stop_on_sigterm
    from tuneforge.federated.runtime import flower_environment, require_flower
    from tuneforge.federated.sites import deployed_site

    require_flower()
    host, _ = parse_address(superlink, "--superlink")
    root = site_tls(host, root_certificates, insecure)
    if site_key is not None:
        if root is None:
            raise ConfigError(_SITE_KEYS_NEED_TLS.format(side="--root-certificates"))
        site_key = check_site_private_key(site_key)
    site_config = site_run_config(config, data)
    name = name or data.name
    site = deployed_site(site_config, name)
    console.print(
        f"site {name}: {site.train_size} training and {site.validation_size} validation rows; "
        f"joining {superlink}"
    )
    with tempfile.TemporaryDirectory(prefix="tuneforge-site-") as scratch:
        folder = Path(scratch)
        config_file = folder / "config.yaml"
        save_config(site_config, config_file)
        node_config = " ".join(
            f"{key}={json.dumps(value)}"
            for key, value in (("config", str(config_file)), ("site-name", name))
        )
        supernode = [
            flower_command("flower-supernode"),
            *(["--root-certificates", str(root)] if root else ["--insecure"]),
            "--superlink",
            superlink,
            "--port",
            str(free_port()),
            "--node-config",
            node_config,
            *(["--auth-supernode-private-key", str(site_key)] if site_key else []),
        ]
        with (
            flower_environment(folder),
            stop_on_sigterm(),
            flower_process(supernode, folder / "supernode.log") as process,
        ):
            console.print("serving; stop with Ctrl-C")
            relay = _FailureRelay(folder / "supernode.log", name)
            try:
                while process.poll() is None:
                    relay.show_new()
                    time.sleep(0.5)
            except KeyboardInterrupt:
                relay.show_new()
                console.print(f"site {name} stopped")
                return
            log = _tail(folder / "supernode.log")
            raise RunError(
                _refusal_reason(log, site_key)
                or f"flower-supernode exited with status {process.returncode}:\n{log}"
            )


def _refusal_reason(log: str, site_key: Path | None) -> str | None:
    """What a SuperNode's refusal by a coordinator with site keys means for this site (Flower
    logs it as a numbered code), or None for any other failure."""
    if "[code: 2001]" in log:  # a SuperNode without a key, at a SuperLink that wants one
        return (
            "the coordinator admits registered sites only: make a key pair with `tuneforge "
            "federate site-key`, send the coordinator the .pub file and give --site-key"
        )
    if "[code: 2004]" in log and site_key is not None:  # a key the SuperLink does not know
        return (
            f"the coordinator refused this site's key ({site_key}): it has not registered "
            "its public key (coordinate --site-key NAME.pub)"
        )
    return None


def site_run_config(config: RunConfig, data: Path) -> RunConfig:
    """The config a deployed site trains with: its one data file as the source, split by the
    data section (the coordinator's validation and test files are not the site's)."""
    if not data.is_file() and not data.is_dir():
        raise DataError(f"--data {data}: no such file or folder")
    if config.task.label_kind != "number" and not config.data.labels:
        raise ConfigError(
            "a deployed site needs the federation's label set in the config (data.labels: "
            "[...]): every site and the coordinator must number the labels alike"
        )
    site_config = config.model_copy(deep=True)
    site_config.data.source = str(data.resolve())
    site_config.data.validation_source = None
    site_config.data.test_source = None
    return site_config


_SITE_KEYS_NEED_TLS = (
    "--site-key needs TLS ({side}): a site's signature proves who it is, but without TLS "
    "its updates and the global model would still cross the network readable"
)


def _site_keys_for(paths: list[Path], sites: int, tls: bool) -> list[SiteKey]:
    """The coordinator's site keys, checked against its TLS and site count."""
    if not paths:
        return []
    if not tls:
        raise ConfigError(
            _SITE_KEYS_NEED_TLS.format(side="--ssl-ca-certfile, --ssl-certfile, --ssl-keyfile")
        )
    keys = public_site_keys(paths)
    if len(keys) < sites:
        raise ConfigError(
            f"--sites {sites} but only {len(keys)} site key(s) given: only sites holding a "
            "registered key can join"
        )
    return keys


def _register_site_key(key: SiteKey) -> None:
    """Register a site's public key with the running SuperLink (Flower's Control API)."""
    from tuneforge.federated.processes import flower_command

    result = subprocess.run(
        [flower_command("flwr"), "supernode", "register", str(key.path), CONNECTION],
        check=False,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RunError(
            f"the SuperLink refused site key {key.path} (flwr supernode register exited with "
            f"{result.returncode}):\n{(result.stdout + result.stderr)[-2000:]}"
        )


def _check_secure_aggregation(config: RunConfig, max_site_rows: int | None) -> None:
    if not config.federated.secure_aggregation:
        return
    if max_site_rows is None or max_site_rows < 1:
        raise ConfigError(
            "federated.secure_aggregation needs --max-site-rows N (N >= 1, the largest site's "
            "training rows): SecAgg+ quantises each site's weight as a share of it, and the "
            "coordinator does not know the sites' sizes before they connect"
        )


def parse_address(address: str, option: str) -> tuple[str, int]:
    """HOST:PORT as (host, port).

    Raises:
        ConfigError: no port, or not a number from 1 to 65535.
    """
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{option} {address}: expected HOST:PORT, e.g. 127.0.0.1:9092")
    return host.strip("[]"), int(port)


def join_address(host: str, port: int) -> str:
    """HOST:PORT as gRPC reads it: an IPv6 address in brackets ([::1]:9092)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def write_flower_app(folder: Path, run_config: dict[str, Any]) -> Path:
    """The Flower app `flwr run` submits: a pyproject.toml naming tuneforge's ServerApp and
    ClientApp, no dependencies of its own (the SuperLink would `uv sync` them, pulling a CUDA
    torch), and `run_config` as its run config."""
    folder.mkdir(parents=True, exist_ok=True)
    values = "\n".join(f"{key} = {json.dumps(value)}" for key, value in run_config.items())
    (folder / "pyproject.toml").write_text(
        f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "tuneforge-federated"
version = "1.0.0"
description = "tuneforge federated fine-tuning (generated by tuneforge federate coordinate)"
license = "Apache-2.0"
dependencies = []

[tool.flwr.app]
publisher = "tuneforge"

[tool.flwr.app.components]
serverapp = "tuneforge.federated.apps:server_app"
clientapp = "tuneforge.federated.apps:client_app"

[tool.flwr.app.config]
{values}
""",
        encoding="utf-8",
    )
    return folder


def _write_connection(home: Path, address: str, ca_certfile: Path | None) -> None:
    """FLWR_HOME/config.toml with the one SuperLink connection `flwr run` uses (Flower's
    default, "local", would start a detached SuperLink of its own), over TLS when the SuperLink
    has a certificate."""
    transport = (
        f"root-certificates = {json.dumps(str(ca_certfile))}\n"
        if ca_certfile is not None
        else "insecure = true\n"
    )
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "{CONNECTION}"\n\n'
        f'[superlink.{CONNECTION}]\naddress = "{address}"\n{transport}',
        encoding="utf-8",
    )


class _FailureRelay:
    """Shows the site's ClientApp failures (SITE_FAILURE_MARK lines) as its SuperNode logs them:
    the coordinator goes on without the site (or fails the round), and the site's operator
    should know why."""

    def __init__(self, log: Path, site: str) -> None:
        self._log, self._site, self._offset, self._partial = log, site, 0, b""

    def show_new(self) -> None:
        if not self._log.is_file():
            return
        with self._log.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        self._offset += len(chunk)
        *lines, self._partial = (self._partial + chunk).split(b"\n")
        for line in lines:
            text = line.decode("utf-8", errors="replace")
            if SITE_FAILURE_MARK in text:
                reason = text.split(SITE_FAILURE_MARK, 1)[1].strip()
                console.print(
                    f"[yellow]site {escape(self._site)}: a round's work failed here and the "
                    f"coordinator got an error instead of this site's reply: {escape(reason)}[/]"
                )


def _tail(path: Path, lines: int = 20) -> str:
    if not path.is_file():
        return ""
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
