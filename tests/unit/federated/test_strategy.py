"""Flower's own strategies are the ones configured; site metrics average by validation rows."""

from __future__ import annotations

import importlib.util

import pytest

from tuneforge.config import FederatedConfig

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("flwr") is None, reason="the federated extra is not installed"
)


@pytest.mark.parametrize(
    ("strategy", "flower_class"),
    [("fedavg", "FedAvg"), ("fedprox", "FedProx"), ("fedadam", "FedAdam")],
)
def test_strategy_is_flowers_own_weighted_by_site_size(strategy: str, flower_class: str) -> None:
    from flwr.serverapp import strategy as flower

    from tuneforge.federated.server import make_strategy

    made = make_strategy(FederatedConfig(strategy=strategy, fraction_fit=0.5), 4, None)
    assert type(made) is getattr(flower, flower_class)
    assert made.weighted_by_key == "num-examples"
    assert made.fraction_train == 0.5 and made.min_available_nodes == 4
    if strategy == "fedprox":
        assert made.proximal_mu == FederatedConfig().proximal_mu


def test_strategy_client_dp_wraps_with_client_side_clipping() -> None:
    from flwr.serverapp.strategy import DifferentialPrivacyClientSideFixedClipping

    from tuneforge.federated.server import make_strategy

    config = FederatedConfig(
        fraction_fit=0.6, privacy={"noise_multiplier": 1.2, "clipping_norm": 0.5}
    )
    made = make_strategy(config, 5, 1.2)
    assert isinstance(made, DifferentialPrivacyClientSideFixedClipping)
    assert made.num_sampled_clients == 3  # floor(5 * 0.6), Flower's own sampling rule
    assert made.clipping_norm == 0.5 and made.noise_multiplier == 1.2
    # The noise is calibrated to an equally weighted mean.
    assert made.strategy.weighted_by_key == "site-weight"


def test_strategy_site_mean_skips_sites_without_validation_rows() -> None:
    from flwr.app import MetricRecord, RecordDict

    from tuneforge.federated.server import weighted_site_mean

    records = [
        RecordDict(
            {"metrics": MetricRecord({"num-examples": 3, "site-index": 0, "accuracy": 1.0})}
        ),
        RecordDict(
            {"metrics": MetricRecord({"num-examples": 1, "site-index": 1, "accuracy": 0.0})}
        ),
        RecordDict({"metrics": MetricRecord({"num-examples": 0, "site-index": 2})}),
    ]
    mean = weighted_site_mean(records, "num-examples")
    assert dict(mean) == {"accuracy": 0.75}
    assert dict(weighted_site_mean(records[2:], "num-examples")) == {}


def test_strategy_site_metrics_travel_outside_the_metric_record() -> None:
    """Flower refuses to aggregate evaluation replies whose MetricRecord keys differ (a skewed
    partition leaves a site without validation rows; a metric can be NaN on one site's rows):
    the site's metrics ride in a ConfigRecord beside a fixed-key MetricRecord, and each metric
    is averaged over the sites that report it."""
    from flwr.app import ConfigRecord, MetricRecord, RecordDict

    from tuneforge.federated.client import SITE_METRICS
    from tuneforge.federated.server import weighted_site_mean

    def reply(rows: int, index: int, metrics: dict[str, float]) -> RecordDict:
        fixed = {"num-examples": rows, "site-weight": 1, "site-index": index}
        return RecordDict({"metrics": MetricRecord(fixed), SITE_METRICS: ConfigRecord(metrics)})

    records = [
        reply(3, 0, {"accuracy": 1.0, "macro_f1": 0.5}),
        reply(1, 1, {"accuracy": 0.0}),  # macro_f1 NaN on this site's rows: dropped
        reply(0, 2, {}),  # no validation rows
    ]
    assert dict(weighted_site_mean(records, "num-examples")) == {"accuracy": 0.75, "macro_f1": 0.5}
