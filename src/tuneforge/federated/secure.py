"""Secure aggregation (SecAgg+, Bell et al. 2020) on Flower's legacy workflow, the only place
Flower 1.42 offers it; isolated here so the rest of the package stays on the Message API.

Server: a legacy strategy (FedAvg, FedProx or FedAdam) run by `DefaultWorkflow` with
`SecAggPlusWorkflow` as its fit step, over a `LegacyContext`. Sites: a `NumPyClient` under
`secaggplus_mod`, whose fit is the same `train_site` as the Message API ClientApp's. Each site
clips its parameters to +-clipping_range, quantises them and adds pairwise masks that cancel in
the sum, so the server learns only the weighted sum of the sites' parameters (within the
quantisation step), never one site's.

Legacy messages carry their metrics in ConfigRecords, so the per-site report rows come from the
strategy's metric-aggregation callbacks, not from the metering grid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tuneforge.config import FederatedConfig, RunConfig
from tuneforge.errors import RunError
from tuneforge.federated.client import NUM_EXAMPLES, SITE_INDEX, SITE_WEIGHT
from tuneforge.federated.sites import Site, SiteSummary

if TYPE_CHECKING:
    from flwr.app import Context
    from flwr.clientapp import ClientApp
    from flwr.serverapp import Grid

    from tuneforge.federated.server import ServerLog

# SecAgg+ clips every exchanged parameter to +-CLIPPING_RANGE before quantising it (Flower's
# default, 8: adapter, head and layer-norm weights lie well inside it).
CLIPPING_RANGE = 8.0
SITE_NAME, TRAIN_ROWS, VALIDATION_ROWS = "site-name", "train-rows", "validation-rows"
MAX_SITE_ROWS = "max-site-rows"
"""Sent with every fit: a site with more training rows refuses (its weight would overflow)."""


def run_secure_rounds(
    grid: Grid,
    federated: FederatedConfig,
    sites: int,
    initial_state: dict[str, torch.Tensor],
    evaluate_global: Callable[[int, dict[str, Any]], dict[str, float]],
    log: ServerLog,
    *,
    context: Context,
    rounds: int,
    max_site_rows: int,
) -> None:
    """`rounds` rounds of SecAgg+ aggregation from `initial_state` (every sampled site takes
    part in the round's key exchange; a site that drops out after it is left out of the sum
    while the sites that stay reach federated.secure_aggregation_threshold, else the round
    fails).

    Args:
        max_site_rows: the largest site's training rows: SecAgg+ quantises each site's weight
            as a share of it (a larger weight would overflow, a much larger bound loses
            precision).
    """
    import random

    from flwr.common import ndarrays_to_parameters
    from flwr.server import LegacyContext, ServerConfig
    from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow

    from tuneforge.federated.server import MeteredGrid

    names = list(initial_state)

    def evaluate_fn(server_round: int, arrays: list[np.ndarray], _: Any) -> Any:
        state = {
            name: torch.from_numpy(array.copy()) for name, array in zip(names, arrays, strict=True)
        }
        metrics = evaluate_global(server_round, state)
        log.global_metrics[server_round] = metrics
        log.evaluated_at[server_round] = time.perf_counter()
        # The workflow evaluates after every round: the last call holds the final model.
        log.final_arrays = state
        return metrics.get("loss", float("nan")), metrics

    strategy = _legacy_strategy(
        federated,
        sites,
        evaluate_fn=evaluate_fn,
        initial_parameters=ndarrays_to_parameters(
            [tensor.numpy() for tensor in initial_state.values()]
        ),
        log=log,
        max_site_rows=max_site_rows,
    )
    legacy = LegacyContext(
        context=context, config=ServerConfig(num_rounds=rounds), strategy=strategy
    )
    workflow = DefaultWorkflow(
        fit_workflow=SecAggPlusWorkflow(
            # Every sampled site holds a share of every other's key; the threshold says how
            # many shares unmask (1.0: all, no dropout tolerance, the strictest setting).
            num_shares=1.0,
            reconstruction_threshold=float(federated.secure_aggregation_threshold),
            max_weight=float(max_site_rows),
            clipping_range=CLIPPING_RANGE,
        )
    )
    # Flower samples the training sites with Python's random module.
    random.seed(federated.seed)
    workflow(MeteredGrid(grid, log, legacy=True), legacy)
    for number in range(1, rounds + 1):
        entry = log.round(number)
        # Legacy messages number the arrays; they hold these tensors, in this order.
        entry.array_names.update(names)
        # Flower's workflow logs a failed SecAgg+ stage and goes on with the old parameters.
        if not entry.trained_sites:
            raise RunError(
                f"SecAgg+ round {number} aggregated no site's update: "
                f"{len(entry.dropped_nodes) or 'a'} site(s) failed or dropped out (see the sites' "
                "logs), and federated.secure_aggregation_threshold "
                f"{federated.secure_aggregation_threshold} needs more of them to stay"
            )


def _legacy_strategy(
    federated: FederatedConfig,
    sites: int,
    *,
    evaluate_fn: Callable[..., Any],
    initial_parameters: Any,
    log: ServerLog,
    max_site_rows: int,
) -> Any:
    from flwr.server import strategy as legacy

    def fit_config(server_round: int) -> dict[str, Any]:
        return {
            "server-round": server_round,
            "local-epochs": federated.local_epochs,
            MAX_SITE_ROWS: max_site_rows,
        }

    def evaluate_config(server_round: int) -> dict[str, Any]:
        return {"server-round": server_round}

    def trained(results: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
        # Fit comes before the round's central evaluation.
        entry = log.round(max(log.global_metrics, default=0) + 1)
        for _, metrics in results:
            entry.trained_sites.append(_note_site(log, metrics))
        return {}

    def evaluated(results: list[tuple[int, dict[str, Any]]]) -> dict[str, Any]:
        from flwr.app import MetricRecord, RecordDict

        from tuneforge.federated.server import weighted_site_mean

        # Federated evaluation comes after the round's central evaluation.
        entry = log.round(max(log.global_metrics, default=0))
        records = []
        for _, metrics in results:
            numbers = {
                key: float(value)
                for key, value in metrics.items()
                if isinstance(value, int | float) and key not in (TRAIN_ROWS, VALIDATION_ROWS)
            }
            entry.site_metrics[_note_site(log, metrics)] = {
                key: value for key, value in numbers.items() if key not in (SITE_INDEX, SITE_WEIGHT)
            }
            records.append(RecordDict({"metrics": MetricRecord(numbers)}))
        return dict(weighted_site_mean(records, NUM_EXAMPLES))

    common: dict[str, Any] = {
        "fraction_fit": federated.fraction_fit,
        "fraction_evaluate": 1.0,
        "min_fit_clients": 1,
        "min_evaluate_clients": sites,
        "min_available_clients": sites,
        "evaluate_fn": evaluate_fn,
        "on_fit_config_fn": fit_config,
        "on_evaluate_config_fn": evaluate_config,
        "initial_parameters": initial_parameters,
        "fit_metrics_aggregation_fn": trained,
        "evaluate_metrics_aggregation_fn": evaluated,
    }
    if federated.strategy == "fedprox":
        return legacy.FedProx(proximal_mu=federated.proximal_mu, **common)
    if federated.strategy == "fedadam":
        return legacy.FedAdam(eta=federated.server_learning_rate, **common)
    return legacy.FedAvg(**common)


def _note_site(log: ServerLog, metrics: dict[str, Any]) -> int:
    """The site's index: its partition number, or a deployed site's number by its name."""
    index = int(metrics[SITE_INDEX])
    name = str(metrics[SITE_NAME])
    if index < 0:
        index = next((i for i, site in log.sites.items() if site.name == name), len(log.sites))
    log.sites[index] = SiteSummary(name, int(metrics[TRAIN_ROWS]), int(metrics[VALIDATION_ROWS]))
    return index


def build_secure_client_app(
    site_of: Callable[[Context], tuple[int, Site]], config: RunConfig
) -> ClientApp:
    """A legacy ClientApp under `secaggplus_mod` serving the site `site_of(context)`: fit is
    `train_site`, evaluate is `evaluate_site`, as in the Message API ClientApp."""
    from flwr.client import NumPyClient
    from flwr.client.mod import secaggplus_mod
    from flwr.clientapp import ClientApp

    from tuneforge.federated.client import evaluate_site, train_site
    from tuneforge.federated.exchange import exchanged_names, exchanged_state, load_exchanged
    from tuneforge.pipeline import build_model

    class SiteClient(NumPyClient):
        def __init__(self, index: int, site: Site) -> None:
            self.index, self.site = index, site

        def _model(self, arrays: list[np.ndarray]) -> tuple[torch.nn.Module, list[str]]:
            model = build_model(config, self.site.data)
            names = exchanged_names(model, config.federated.exchange)
            load_exchanged(
                model, {n: torch.from_numpy(a.copy()) for n, a in zip(names, arrays, strict=True)}
            )
            return model, names

        def _about(self) -> dict[str, Any]:
            return {
                SITE_INDEX: self.index,
                SITE_NAME: self.site.name,
                TRAIN_ROWS: self.site.train_size,
                VALIDATION_ROWS: self.site.validation_size,
            }

        def fit(self, parameters: list[np.ndarray], settings: dict[str, Any]) -> Any:
            bound = int(settings.get(MAX_SITE_ROWS, self.site.train_size))
            if self.site.train_size > bound:
                raise ValueError(
                    f"site {self.site.name} has {self.site.train_size} training rows, more than "
                    f"the coordinator's --max-site-rows {bound}: SecAgg+ would overflow"
                )
            model, names = self._model(parameters)
            round_settings = {
                "server-round": settings.get("server-round", 1),
                "proximal-mu": settings.get("proximal_mu", 0.0),
            }
            trained, loss = train_site(model, self.site, config, round_settings)
            arrays = [t.numpy() for t in exchanged_state(trained, names).values()]
            return arrays, self.site.train_size, {**self._about(), "train-loss": loss}

        def evaluate(self, parameters: list[np.ndarray], settings: dict[str, Any]) -> Any:
            model, _ = self._model(parameters)
            metrics = evaluate_site(model, self.site, config)
            about = {**self._about(), NUM_EXAMPLES: self.site.validation_size, **metrics}
            return metrics.get("loss", float("nan")), self.site.validation_size, about

    def client_fn(context: Context) -> Any:
        index, site = site_of(context)
        return SiteClient(index, site).to_client()

    return ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
