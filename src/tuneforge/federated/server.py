"""The server side: Flower's own strategies (FedAvg, FedProx, FedAdam, optionally wrapped in
client-side-clipping DP) run by a ServerApp over a grid that meters what travels."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tuneforge.config import FederatedConfig
from tuneforge.federated.client import (
    ARRAYS,
    NUM_EXAMPLES,
    SITE,
    SITE_INDEX,
    SITE_METRICS,
    SITE_WEIGHT,
)
from tuneforge.federated.sites import SiteSummary

if TYPE_CHECKING:
    from flwr.app import Context, Message, MetricRecord, RecordDict
    from flwr.serverapp import Grid, ServerApp


@dataclass
class RoundLog:
    """What the metering grid saw in one round."""

    bytes_to_sites: int = 0
    bytes_from_sites: int = 0
    trained_sites: list[int] = field(default_factory=list)
    dropped_nodes: set[int] = field(default_factory=set)
    """Nodes that answered a training message with an error (failed or left): their updates
    are not in the round's aggregate."""
    site_metrics: dict[int, dict[str, float]] = field(default_factory=dict)
    """Each site's metrics of the global model on its validation rows, by site index."""
    array_names: set[str] = field(default_factory=set)
    """Names of every tensor sent or received (the exchange test reads them)."""


@dataclass
class ServerLog:
    rounds: dict[int, RoundLog] = field(default_factory=dict)
    global_metrics: dict[int, dict[str, float]] = field(default_factory=dict)
    """The global model's validation metrics after each round (0: before training)."""
    final_arrays: dict[str, Any] | None = None
    evaluated_at: dict[int, float] = field(default_factory=dict)
    """time.perf_counter() when each round's global evaluation finished (its wall time is the
    difference to the previous one's)."""
    sites: dict[int, SiteSummary] = field(default_factory=dict)
    """Each site's name and row counts, by site index, as its replies state them."""
    node_sites: dict[int, int] = field(default_factory=dict)
    """Site index of each deployed SuperNode (by node id), numbered as their replies came."""

    def round(self, number: int) -> RoundLog:
        return self.rounds.setdefault(number, RoundLog())

    def site_index(self, reply: Message) -> int:
        """The partition number a simulated site sends, or the number given to a deployed
        site's node on its first reply."""
        metrics = next(iter(reply.content.metric_records.values()), {})
        index = int(metrics.get(SITE_INDEX, -1))
        if index >= 0:
            return index
        node = int(reply.metadata.src_node_id)
        return self.node_sites.setdefault(node, len(self.node_sites))

    def site_list(self) -> list[SiteSummary]:
        """The sites that replied, in index order."""
        return [self.sites[index] for index in sorted(self.sites)]

    def number_sites_by_name(self) -> None:
        """Renumber the sites in the order of their names (deployed sites get their numbers in
        the order their first replies came: a report should not depend on that)."""
        order = sorted(self.sites, key=lambda index: self.sites[index].name)
        new = {old: position for position, old in enumerate(order)}
        self.sites = {new[old]: site for old, site in self.sites.items()}
        self.node_sites = {node: new[index] for node, index in self.node_sites.items()}
        for entry in self.rounds.values():
            entry.trained_sites = [new.get(index, index) for index in entry.trained_sites]
            entry.site_metrics = {
                new.get(index, index): values for index, values in entry.site_metrics.items()
            }


class MeteredGrid:
    """A Flower Grid that forwards everything and records, per round, the bytes of every tensor
    (and of every masked vector SecAgg+ sends as bytes) sent and received, their names, and the
    sites' evaluation replies (Flower's aggregated metrics keep only the weighted mean; the
    worst site needs each one).

    A message's round is the `server-round` of its config; a message without one (a SecAgg+
    key-exchange stage) belongs to the last round seen. `legacy=True` (Flower's legacy
    messages: numbered arrays, metrics in ConfigRecords) counts the bytes only and leaves the
    tensor names and the sites' rows to the caller.
    """

    def __init__(self, grid: Grid, log: ServerLog, *, legacy: bool = False) -> None:
        self._grid = grid
        self._log = log
        self._legacy = legacy
        self._round = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._grid, name)

    def send_and_receive(self, messages: Iterable[Message], *, timeout: float | None = None):
        from flwr.app import MessageType

        outgoing = list(messages)
        for message in outgoing:
            for record in message.content.config_records.values():
                if "server-round" in record:
                    self._round = int(record["server-round"])
        for message in outgoing:
            self._count(message, "bytes_to_sites")
        replies = list(self._grid.send_and_receive(outgoing, timeout=timeout))
        for reply in replies:
            if reply.has_error():
                if reply.metadata.message_type == MessageType.TRAIN:
                    self._log.round(self._round).dropped_nodes.add(reply.metadata.src_node_id)
                continue
            self._count(reply, "bytes_from_sites")
            if self._legacy:
                continue
            metrics = dict(next(iter(reply.content.metric_records.values()), {}))
            index = self._log.site_index(reply)
            if SITE in reply.content.config_records:
                site = reply.content.config_records[SITE]
                self._log.sites[index] = SiteSummary(
                    str(site["name"]), int(site["train-rows"]), int(site["validation-rows"])
                )
            entry = self._log.round(self._round)
            if reply.metadata.message_type == MessageType.TRAIN:
                entry.trained_sites.append(index)
            elif reply.metadata.message_type == MessageType.EVALUATE:
                entry.site_metrics[index] = {
                    NUM_EXAMPLES: float(metrics.get(NUM_EXAMPLES, 0)),
                    **site_metrics_of(reply.content),
                }
        return replies

    def _count(self, message: Message, counter: str) -> None:
        entry = self._log.round(self._round)
        total = 0
        for record in message.content.array_records.values():
            if not self._legacy:
                entry.array_names.update(record.keys())
            total += sum(len(array.data) for array in record.values())
        for record in message.content.config_records.values():
            for value in record.values():
                values = value if isinstance(value, list) else [value]
                total += sum(len(item) for item in values if isinstance(item, bytes))
        setattr(entry, counter, getattr(entry, counter) + total)


def make_strategy(federated: FederatedConfig, sites: int, noise_multiplier: float | None):
    """Flower's strategy for federated.strategy, weighted by site size (equally under DP),
    sampling federated.fraction_fit of the sites per round and evaluating on all of them."""
    from flwr.serverapp import strategy as flower

    dp = federated.privacy is not None
    common: dict[str, Any] = {
        "fraction_train": federated.fraction_fit,
        "fraction_evaluate": 1.0,
        "min_train_nodes": 1,
        "min_evaluate_nodes": sites,
        "min_available_nodes": sites,
        "weighted_by_key": SITE_WEIGHT if dp else NUM_EXAMPLES,
        "evaluate_metrics_aggr_fn": weighted_site_mean,
    }
    if federated.strategy == "fedprox":
        strategy = flower.FedProx(proximal_mu=federated.proximal_mu, **common)
    elif federated.strategy == "fedadam":
        strategy = flower.FedAdam(eta=federated.server_learning_rate, **common)
    else:
        strategy = flower.FedAvg(**common)
    if not dp:
        return strategy
    assert federated.privacy is not None and noise_multiplier is not None
    return flower.DifferentialPrivacyClientSideFixedClipping(
        strategy,
        noise_multiplier=noise_multiplier,
        clipping_norm=federated.privacy.clipping_norm,
        num_sampled_clients=sampled_sites(federated, sites),
    )


def sampled_sites(federated: FederatedConfig, sites: int) -> int:
    """How many sites train per round: Flower's rule, floor(sites * fraction), at least one."""
    return max(int(sites * federated.fraction_fit), 1)


def weighted_site_mean(records: list[RecordDict], weight_key: str) -> MetricRecord:
    """The sites' evaluation metrics averaged by their validation rows (sites without any carry
    no weight; Flower's default average divides by the total weight, which can be 0)."""
    from flwr.app import MetricRecord

    sums: dict[str, float] = {}
    totals: dict[str, float] = {}
    for record in records:
        metrics = next(iter(record.metric_records.values()))
        weight = float(metrics.get(NUM_EXAMPLES, 0))
        if weight <= 0:
            continue
        for key, value in {**metrics, **site_metrics_of(record)}.items():
            if key not in (NUM_EXAMPLES, SITE_INDEX, SITE_WEIGHT):
                sums[key] = sums.get(key, 0.0) + weight * float(value)
                totals[key] = totals.get(key, 0.0) + weight
    # Each metric over the sites that report it (a metric NaN on one site's rows is left out).
    return MetricRecord({key: value / totals[key] for key, value in sums.items()})


def site_metrics_of(content: RecordDict) -> dict[str, float]:
    """A site's own validation metrics from its evaluation reply ({} without any)."""
    record = content.config_records.get(SITE_METRICS)
    return {key: float(value) for key, value in (record or {}).items()}


def run_rounds(
    grid: Grid,
    federated: FederatedConfig,
    sites: int,
    initial_state: dict[str, Any],
    evaluate_global: Callable[[int, dict[str, Any]], dict[str, float]],
    log: ServerLog,
    *,
    rounds: int,
    noise_multiplier: float | None = None,
) -> None:
    """Run the strategy for `rounds` rounds from `initial_state` over `grid` (waiting for
    `sites` sites), scoring the global model with `evaluate_global` before the first round and
    after each; the final parameters go to log.final_arrays."""
    from flwr.app import ArrayRecord, ConfigRecord, MetricRecord

    def central(server_round: int, arrays: ArrayRecord) -> MetricRecord:
        metrics = evaluate_global(server_round, arrays.to_torch_state_dict())
        log.global_metrics[server_round] = metrics
        log.evaluated_at[server_round] = time.perf_counter()
        return MetricRecord(metrics)

    # Flower samples the training sites with Python's random module.
    random.seed(federated.seed)
    strategy = make_strategy(federated, sites, noise_multiplier)
    result = strategy.start(
        grid=MeteredGrid(grid, log),
        initial_arrays=ArrayRecord(initial_state),
        num_rounds=rounds,
        train_config=ConfigRecord({"local-epochs": federated.local_epochs}),
        evaluate_fn=central,
    )
    log.final_arrays = result.arrays.to_torch_state_dict()


def build_server_app(
    federated: FederatedConfig,
    sites: int,
    initial_state: dict[str, Any],
    evaluate_global: Callable[[int, dict[str, Any]], dict[str, float]],
    log: ServerLog,
    *,
    noise_multiplier: float | None = None,
    max_site_rows: int = 0,
) -> ServerApp:
    """A ServerApp running `run_rounds` (or, with federated.secure_aggregation, SecAgg+'s
    `run_secure_rounds`, given the largest site's training rows) for federated.rounds rounds
    (the simulation's: the model and the data stay in this process).

    The run config may override the rounds (`num-server-rounds`); every other setting comes
    from the tuneforge config, so the app needs no pyproject defaults.
    """
    from flwr.serverapp import ServerApp

    app = ServerApp()

    @app.main()
    def main(grid: Grid, context: Context) -> None:
        rounds = int(context.run_config.get("num-server-rounds", federated.rounds))
        common = (grid, federated, sites, initial_state, evaluate_global, log)
        if federated.secure_aggregation:
            from tuneforge.federated.secure import run_secure_rounds

            run_secure_rounds(*common, context=context, rounds=rounds, max_site_rows=max_site_rows)
        else:
            run_rounds(*common, rounds=rounds, noise_multiplier=noise_multiplier)

    return app


__all__ = [
    "ARRAYS",
    "MeteredGrid",
    "ServerLog",
    "build_server_app",
    "make_strategy",
    "run_rounds",
]
