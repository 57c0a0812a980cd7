"""The federated: section is validated at load like every other section."""

from __future__ import annotations

import pytest

from tuneforge.config import config_from_dict
from tuneforge.errors import ConfigError


def test_federated_config_defaults_and_values() -> None:
    config = config_from_dict(
        {
            "federated": {
                "sites": 5,
                "partition": "dirichlet",
                "alpha": 0.1,
                "rounds": 10,
                "strategy": "fedprox",
                "privacy": {"target_epsilon": 8},
            }
        }
    )
    assert config.federated.sites == 5
    assert config.federated.exchange == "adapters"
    assert config.federated.privacy is not None
    assert config.federated.privacy.noise_multiplier is None
    assert config_from_dict({}).federated.privacy is None


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"rounds": 0}, "federated.rounds"),
        ({"sites": 1}, "federated.sites"),
        ({"partition": "zipf"}, "federated.partition"),
        ({"strategy": "fedyogi"}, "federated.strategy"),
        ({"fraction_fit": 0}, "federated.fraction_fit"),
        ({"rouns": 3}, r"did you mean federated\.rounds"),
        ({"privacy": {"clipping_norm": 1.0}}, "exactly one of noise_multiplier and target_epsilon"),
        ({"privacy": {"noise_multiplier": 1.0, "target_epsilon": 8}}, "exactly one"),
        (
            {"secure_aggregation": True, "privacy": {"noise_multiplier": 1.0}},
            "secure_aggregation runs on Flower's legacy workflow, and client DP",
        ),
        ({"secure_aggregation": True, "exchange": "full"}, "use exchange: adapters"),
        ({"secure_aggregation_threshold": 0.67}, "applies to secure aggregation only"),
        (
            {"secure_aggregation": True, "secure_aggregation_threshold": 0.5},
            "federated.secure_aggregation_threshold",
        ),
    ],
)
def test_federated_config_rejects_bad_values(section: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"federated": section})
