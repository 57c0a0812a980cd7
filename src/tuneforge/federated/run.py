"""`tuneforge federate`: prepare the sites, run Flower's simulation runtime, save the global
model as a normal run folder with a federated report."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneforge.config import RunConfig, save_config
from tuneforge.console import CountedProgress, console
from tuneforge.errors import ConfigError
from tuneforge.federated.sites import Federation, Site, SiteSummary
from tuneforge.run import layout

if TYPE_CHECKING:
    from tuneforge.pipeline import PreparedData


@dataclass
class FederatedResult:
    run_dir: Path
    metrics: dict[str, Any]
    """Test metrics of the final global model (validation without a test split)."""
    report: dict[str, Any]
    """What federated.json holds: rounds, sites, bytes, privacy."""


def federate(
    config: RunConfig,
    *,
    sites_from: Path | None = None,
    default_run_name: str = "federated",
    overwrite: bool = False,
    show_progress: bool = True,
) -> FederatedResult:
    """Partition the data (or read one file per site), train federatedly for
    federated.rounds rounds, and save the final global model and its report.

    Raises:
        ConfigError: bad site data (see sites.py), the federated extra missing.
    """
    from tuneforge._process import run_settings
    from tuneforge.federated.runtime import flower_environment, require_flower

    require_flower()
    run_dir = config.run_dir(default_run_name)
    layout.prepare_run_dir(run_dir, config, resume=False, overwrite=overwrite)
    save_config(config, run_dir / layout.CONFIG_FILE)
    with run_settings(config.training.num_threads), flower_environment(run_dir):
        return _federate(config, run_dir, sites_from, show_progress)


def _federate(
    config: RunConfig, run_dir: Path, sites_from: Path | None, show_progress: bool
) -> FederatedResult:
    from tuneforge.federated.exchange import exchanged_names, exchanged_state
    from tuneforge.federated.report import site_origin
    from tuneforge.pipeline import build_model, save_data_outputs

    federation = _federation(config, sites_from)
    save_data_outputs(run_dir, federation.data)
    sizes = ", ".join(f"{site.name}: {site.train_size}" for site in federation.sites)
    console.print(f"[bold]{len(federation.sites)} sites[/] (training rows {sizes})")

    model = build_model(config, federation.data)
    names = exchanged_names(model, config.federated.exchange)
    noise = noise_multiplier(config, len(federation.sites))
    log = _simulate(config, federation, model, exchanged_state(model, names), noise, show_progress)
    sites = [site.summary() for site in federation.sites]
    origin = site_origin(config, sites_from)
    return save_federated_run(run_dir, config, federation.data, sites, model, log, noise, origin)


def _federation(config: RunConfig, sites_from: Path | None) -> Federation:
    from tuneforge.federated.sites import partition_sites, sites_from_folder
    from tuneforge.pipeline import prepare_data

    if sites_from is not None:
        return sites_from_folder(sites_from, config)
    return partition_sites(prepare_data(config), config)


def noise_multiplier(config: RunConfig, sites: int) -> float | None:
    """The server noise of client DP (None without it): the configured multiplier, or the one
    that spends federated.privacy.target_epsilon over the rounds at the sampling rate."""
    from tuneforge.federated.accounting import noise_for_epsilon
    from tuneforge.federated.server import sampled_sites

    privacy = config.federated.privacy
    if privacy is None:
        return None
    if privacy.noise_multiplier is not None:
        return privacy.noise_multiplier
    assert privacy.target_epsilon is not None
    rate = sampled_sites(config.federated, sites) / sites
    return noise_for_epsilon(privacy.target_epsilon, privacy.delta, rate, config.federated.rounds)


def _simulate(
    config: RunConfig,
    federation: Federation,
    model: Any,
    initial_state: dict[str, Any],
    noise_multiplier: float | None,
    show_progress: bool,
) -> Any:
    """Run the rounds on Flower's simulation runtime (Ray backend, one site at a time per
    CPU given to it), with a progress bar over the rounds; returns the server's log."""
    from flwr.simulation import run_simulation

    from tuneforge.federated.client import build_client_app
    from tuneforge.federated.server import ServerLog, build_server_app

    data = federation.data
    metric = config.training.metric_for_best or data.task.default_metric
    rounds = config.federated.rounds
    progress = CountedProgress("federated rounds", rounds, enabled=show_progress)

    def show(server_round: int, metrics: dict[str, float]) -> None:
        progress.note(f"validation {metric} {metrics.get(metric, float('nan')):.4f}")
        progress.advance_to(server_round)

    evaluate_global = global_evaluator(config, data, model, show)

    sites = federation.sites

    def site_of(context: Any) -> tuple[int, Site]:
        index = int(context.node_config["partition-id"])
        return index, sites[index]

    log = ServerLog()
    server_app = build_server_app(
        config.federated,
        len(sites),
        initial_state,
        evaluate_global,
        log,
        noise_multiplier=noise_multiplier,
        max_site_rows=max(site.train_size for site in sites),
    )
    if config.federated.secure_aggregation:
        from tuneforge.federated.secure import build_secure_client_app

        client_app = build_secure_client_app(site_of, config)
    else:
        client_app = build_client_app(
            site_of, config, clip_updates=config.federated.privacy is not None
        )
    cpus = max(1, config.training.num_threads or 1)
    backend = {
        # One site trains at a time with `cpus` threads; Ray gets no more (its default is
        # every core and a dashboard) and a small object store (the parameters are small).
        "client_resources": {"num_cpus": cpus, "num_gpus": 0.0},
        "init_args": {
            "num_cpus": cpus,
            "num_gpus": 0,
            "include_dashboard": False,
            "object_store_memory": 100 * 1024 * 1024,
            "log_to_driver": False,
        },
    }
    flower_logger = logging.getLogger("flwr")
    level = flower_logger.level
    flower_logger.setLevel(logging.WARNING)  # Flower logs every round at INFO; the bar shows it
    try:
        with progress:
            run_simulation(
                server_app=server_app,
                client_app=client_app,
                num_supernodes=len(sites),
                backend_config=backend,
            )
    finally:
        flower_logger.setLevel(level)
    if log.final_arrays is None:
        raise ConfigError("the federated run ended without a global model (see the log above)")
    return log


def global_evaluator(
    config: RunConfig,
    data: PreparedData,
    model: Any,
    on_round: Callable[[int, dict[str, float]], None],
) -> Callable[[int, dict[str, Any]], dict[str, float]]:
    """The server's evaluation of the global parameters on `data`'s validation rows; each
    round's metrics also go to `on_round` (a progress bar, a log line)."""
    from tuneforge.evaluate import scalar_metrics
    from tuneforge.federated.exchange import load_exchanged
    from tuneforge.inference import default_device, resolve_precision
    from tuneforge.pipeline import evaluate_model

    precision = resolve_precision(config.training.precision, default_device())

    def evaluate_global(server_round: int, state: dict[str, Any]) -> dict[str, float]:
        load_exchanged(model, state)
        scored = evaluate_model(model, data.task, data, "validation", config, precision)
        metrics = {k: float(v) for k, v in scalar_metrics(scored.metrics).items()}
        on_round(server_round, metrics)
        return metrics

    return evaluate_global


def save_federated_run(
    run_dir: Path,
    config: RunConfig,
    data: PreparedData,
    sites: list[SiteSummary],
    model: Any,
    log: Any,
    noise: float | None,
    origin: str,
) -> FederatedResult:
    """The federated report, then the final global model as a normal run folder (the
    simulation's and the deployment's alike): validation and test metrics (test scored once,
    here), plots, model card (with the federated setup), metrics.json last."""
    from tuneforge.adapt import count_parameters
    from tuneforge.federated.exchange import load_exchanged
    from tuneforge.federated.report import (
        append_model_card_section,
        round_history,
        save_federated_report,
    )
    from tuneforge.inference import default_device, resolve_precision
    from tuneforge.pipeline import FitResult, check_quality, evaluate_model, save_run
    from tuneforge.training.loop import TrainState

    report = save_federated_report(run_dir, config, data, sites, log, noise_multiplier=noise)
    precision = resolve_precision(config.training.precision, default_device())
    load_exchanged(model, log.final_arrays)
    model.eval()
    results: dict[str, dict[str, Any]] = {}
    for split in ("validation", "test"):
        if data.records(split):
            results[split] = evaluate_model(
                model, data.task, data, split, config, precision
            ).metrics
    headline = "test" if "test" in results else "validation"
    quality: dict[str, Any] = {"split": headline, "baselines": None, "warnings": []}
    if headline in results:
        baselines, warnings = check_quality(data, headline, results[headline], config)
        quality.update(baselines=baselines, warnings=warnings)
    rounds = len(log.rounds)
    state = TrainState(
        total_steps=rounds,
        steps_per_epoch=1,
        global_step=rounds,
        epoch=rounds,
        best_step=rounds,
        finished=True,
        history=round_history(log),
    )
    result = FitResult(model, state, results.get("validation"), data.metadata, precision, None)
    parameters = count_parameters(model)
    save_run(run_dir, config, data, result, results, parameters=parameters, quality=quality)
    append_model_card_section(run_dir, config, sites, origin)
    return FederatedResult(run_dir, results.get(headline, {}), report)
