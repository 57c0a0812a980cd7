"""The site side of a round: a Flower ClientApp whose train step is `pipeline.fine_tune` in
memory, started from the global trainable parameters, and whose evaluate step scores the global
model on the site's own validation rows. Raw text and per-example gradients never leave it:
the reply holds the trained parameters and a few numbers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from tuneforge.config import RunConfig
from tuneforge.federated.exchange import exchanged_names, exchanged_state, load_exchanged
from tuneforge.federated.sites import Site, subset

if TYPE_CHECKING:
    from flwr.app import Context, Message
    from flwr.clientapp import ClientApp

# Keys of the records a round's messages carry (Flower's strategies' defaults).
ARRAYS, CONFIG, METRICS = "arrays", "config", "metrics"
NUM_EXAMPLES = "num-examples"
SITE_WEIGHT = "site-weight"
"""1 for every site: the weight key under client DP, whose noise is calibrated to the mean of
equally weighted clipped updates (McMahan et al. 2018)."""
SITE_INDEX = "site-index"
"""The partition number in simulation; -1 from a deployed site (the server numbers those)."""
SITE = "site"
"""A reply's ConfigRecord naming the site and its row counts, for the report."""
SITE_METRICS = "site-metrics"
"""An evaluation reply's ConfigRecord of the site's own validation metrics. Not in the
MetricRecord: Flower's strategies refuse to aggregate replies whose metric keys differ, and a
site without validation rows (label skew leaves some with none) or with a metric that is NaN
on its rows has fewer keys than the others."""


def build_client_app(
    site_of: Callable[[Context], tuple[int, Site]],
    config: RunConfig,
    *,
    clip_updates: bool,
) -> ClientApp:
    """A ClientApp serving the site `site_of(context)` returns (by partition id in simulation;
    the one local data file of a deployed site).

    Args:
        clip_updates: attach Flower's `fixedclipping_mod` to training messages (client DP).
    """
    from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
    from flwr.clientapp import ClientApp

    app = ClientApp()
    train_mods = []
    if clip_updates:
        from flwr.clientapp.mod import fixedclipping_mod

        train_mods.append(fixedclipping_mod)

    @app.train(mods=train_mods)
    def train(msg: Message, context: Context) -> Message:
        index, site = site_of(context)
        settings = msg.content[CONFIG]
        model, names = _site_model(config, site, msg.content[ARRAYS].to_torch_state_dict())
        trained, loss = train_site(model, site, config, settings)
        metrics = {
            NUM_EXAMPLES: site.train_size,
            SITE_WEIGHT: 1,
            SITE_INDEX: index,
            "train-loss": loss,
        }
        content = RecordDict(
            {
                ARRAYS: ArrayRecord(exchanged_state(trained, names)),
                METRICS: MetricRecord(metrics),
                SITE: site_record(site),
            }
        )
        return Message(content=content, reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        index, site = site_of(context)
        model, _ = _site_model(config, site, msg.content[ARRAYS].to_torch_state_dict())
        metrics = {NUM_EXAMPLES: site.validation_size, SITE_WEIGHT: 1, SITE_INDEX: index}
        content = RecordDict(
            {
                METRICS: MetricRecord(metrics),
                SITE_METRICS: ConfigRecord(evaluate_site(model, site, config)),
                SITE: site_record(site),
            }
        )
        return Message(content=content, reply_to=msg)

    return app


def site_record(site: Site) -> Any:
    """The site's name and row counts (never a row of its data)."""
    from flwr.app import ConfigRecord

    return ConfigRecord(
        {"name": site.name, "train-rows": site.train_size, "validation-rows": site.validation_size}
    )


def train_site(
    model: torch.nn.Module, site: Site, config: RunConfig, settings: Any
) -> tuple[torch.nn.Module, float]:
    """One local round: `fine_tune` on the site's training rows for federated.local_epochs,
    in memory, without model selection (no validation rows: the round's last weights go back,
    as in FedAvg). FedProx adds mu/2 * ||w - w_global||^2 over the trainable parameters."""
    from tuneforge.pipeline import fine_tune
    from tuneforge.training import TrainingHooks

    server_round = int(settings.get("server-round", 1))
    local = config.model_copy(deep=True)
    local.training.epochs = config.federated.local_epochs
    # A new batch order each round (fine_tune seeds from training.seed).
    local.training.seed = config.training.seed + server_round
    local.training.early_stopping_patience = None
    hooks = TrainingHooks()
    mu = float(settings.get("proximal-mu", 0.0))
    if mu > 0:
        hooks.loss_terms.append(proximal_term(model, mu))
    train_only = subset(site.data, None, [])
    result = fine_tune(model, site.data.task, train_only, local, hooks=hooks, show_progress=False)
    losses = [row["train_loss"] for row in result.state.history if "train_loss" in row]
    return result.model, float(losses[-1]) if losses else float("nan")


def proximal_term(
    model: torch.nn.Module, mu: float
) -> Callable[[torch.nn.Module, Any, Any, torch.Tensor], torch.Tensor]:
    """FedProx's proximal loss term (Li et al. 2020, eq. 2) against the weights the round
    started from; Flower's FedProx strategy sends mu, the site adds the term (it has no torch
    helper for it)."""
    anchor = {
        name: parameter.detach().clone()
        for name, parameter in model.named_parameters()
        if parameter.requires_grad
    }

    def add_proximal(module: torch.nn.Module, batch: Any, outputs: Any, loss: torch.Tensor):
        squared = sum(
            (parameter - anchor[name].to(parameter.device)).pow(2).sum()
            for name, parameter in module.named_parameters()
            if name in anchor
        )
        return loss + mu / 2 * squared

    return add_proximal


def evaluate_site(model: torch.nn.Module, site: Site, config: RunConfig) -> dict[str, float]:
    """The global model's scalar metrics on the site's validation rows ({} without any)."""
    from tuneforge.evaluate import scalar_metrics
    from tuneforge.inference import default_device, resolve_precision
    from tuneforge.pipeline import evaluate_model

    if not site.validation_size:
        return {}
    precision = resolve_precision(config.training.precision, default_device())
    scored = evaluate_model(model, site.data.task, site.data, "validation", config, precision)
    return {name: float(value) for name, value in scalar_metrics(scored.metrics).items()}


def _site_model(
    config: RunConfig, site: Site, global_state: dict[str, torch.Tensor]
) -> tuple[torch.nn.Module, list[str]]:
    """The model every site and the server build alike, with the global parameters loaded."""
    from tuneforge.pipeline import build_model

    model = build_model(config, site.data)
    load_exchanged(model, global_state)
    return model, exchanged_names(model, config.federated.exchange)
