"""Data-parallel `fit`: two real gloo processes on this machine, each on its shard, end with the
same weights, and those are the weights one process gets from the same batches accumulated
(DDP averages the two ranks' gradients; accumulation over the same two batches averages them
too). Dropout is off in this model copy so both runs draw no random numbers that could differ."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.multiprocessing

from tuneforge._net import free_port
from tuneforge.config import TrainingConfig
from tuneforge.training import FitSetup, fit

SETTINGS = {
    "epochs": 1,
    "batch_size": 4,
    "learning_rate": 1e-3,
    "precision": "fp32",
    "group_by_length": False,
    "seed": 3,
}


def _no_dropout_model(minilm_path: str) -> torch.nn.Module:
    from transformers import AutoModelForSequenceClassification

    torch.manual_seed(0)
    return AutoModelForSequenceClassification.from_pretrained(
        minilm_path,
        num_hidden_layers=1,
        num_labels=3,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )


def _train(minilm_path: str, features: list[dict[str, Any]], accumulation: int) -> dict:
    model = _no_dropout_model(minilm_path)
    config = TrainingConfig(**SETTINGS, gradient_accumulation_steps=accumulation)
    fit(
        model,
        features,
        FitSetup(
            config=config,
            pad_token_id=0,
            device=torch.device("cpu"),
            show_progress=False,
        ),
    )
    return {name: tensor.detach().clone() for name, tensor in model.state_dict().items()}


def _digest(state: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(state):
        digest.update(name.encode())
        digest.update(state[name].float().numpy().tobytes())
    return digest.hexdigest()


def _rank(rank: int, port: int, minilm_path: str, features: list, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE="2",
        LOCAL_WORLD_SIZE="2",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    torch.set_num_threads(1)
    state = _train(minilm_path, features, accumulation=1)
    torch.save(state, Path(out) / f"rank{rank}.pt")


@pytest.mark.timeout(600)
def test_data_parallel_ranks_agree_and_match_accumulation(
    tmp_path: Path, minilm_path: Path, bbc_features
) -> None:
    features = bbc_features[:32]  # 8 batches of 4: 4 per rank, no tail to drop
    torch.multiprocessing.start_processes(
        _rank,
        args=(free_port(), str(minilm_path), features, str(tmp_path)),
        nprocs=2,
        start_method="spawn",
    )
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in (0, 1)]
    assert _digest(ranks[0]) == _digest(ranks[1])  # gradients all-reduced: one model

    single = _train(str(minilm_path), features, accumulation=2)
    initial = _no_dropout_model(str(minilm_path)).state_dict()
    name = "classifier.weight"
    assert not torch.equal(single[name], initial[name])  # it trained
    for key, tensor in single.items():
        torch.testing.assert_close(ranks[0][key], tensor, rtol=1e-4, atol=1e-5, msg=key)


def test_data_parallel_on_ray_without_ray_names_the_extra(monkeypatch) -> None:
    import sys

    from tuneforge.errors import TuneforgeError
    from tuneforge.launch import launch_on_ray

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(TuneforgeError, match=r"pip install 'tuneforge\[ray-train\]'"):
        launch_on_ray("local", 2, "config.yaml", [], resume=False, overwrite=False)
