"""A site's round in memory: only trainable tensors are exchanged, FedProx's term holds the
update near the global weights, site data is partitioned from the prepared splits."""

from __future__ import annotations

import pytest
import torch
from _configs import tiny_config

from tuneforge.config import config_from_dict
from tuneforge.federated.client import train_site
from tuneforge.federated.exchange import exchanged_names, exchanged_state, load_exchanged
from tuneforge.federated.sites import partition_sites
from tuneforge.pipeline import build_model, prepare_data


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory):
    raw = tiny_config(
        tmp_path_factory.mktemp("runs"),
        data={"max_examples": 100},
        adaptation={"method": "lora"},
        training={"learning_rate": 2e-2, "warmup_ratio": 0.0, "num_threads": 1},
        federated={"sites": 2, "partition": "dirichlet", "alpha": 0.3},
    )
    config = config_from_dict(raw)
    return config, partition_sites(prepare_data(config), config)


def test_client_sites_hold_disjoint_rows_with_the_whole_label_set(federation) -> None:
    _, fed = federation
    train = [r.source for site in fed.sites for r in site.data.records("train")]
    assert len(train) == len(set(train)) == len(fed.data.records("train"))
    assert all(site.data.names == fed.data.names for site in fed.sites)
    assert all(not site.data.records("test") for site in fed.sites)


def test_client_exchange_is_adapters_and_head_only(federation) -> None:
    config, fed = federation
    model = build_model(config, fed.data)
    names = exchanged_names(model, "adapters")
    assert names and all("lora_" in n or "modules_to_save" in n for n in names)
    everything = exchanged_names(model, "full")
    assert set(names) < set(everything) and len(everything) > 5 * len(names)
    with pytest.raises(ValueError, match="does not have"):
        load_exchanged(model, {"not.a.tensor": torch.zeros(1)})


def test_client_proximal_term_keeps_the_update_near_the_global_weights(federation) -> None:
    config, fed = federation
    site = fed.sites[0]
    start = build_model(config, fed.data)
    names = exchanged_names(start, "adapters")
    global_state = exchanged_state(start, names)

    def update_norm(mu: float) -> float:
        model = build_model(config, site.data)
        load_exchanged(model, global_state)
        trained, loss = train_site(model, site, config, {"server-round": 1, "proximal-mu": mu})
        assert loss == loss  # a number, not NaN
        after = exchanged_state(trained, names)
        return float(sum((after[n] - global_state[n]).pow(2).sum() for n in names) ** 0.5)

    free, held = update_norm(0.0), update_norm(50.0)
    assert held < 0.8 * free
