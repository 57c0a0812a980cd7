"""Batch samplers: which examples each micro-batch holds, epoch by epoch.

A sampler's batches are a pure function of (its seed, the epoch): a resumed run rebuilds the
epoch's batch list and skips the batches already consumed, so the data position is one integer.
Any sampler that keeps that property (a class-balanced one here; Poisson sampling for DP-SGD
later) plugs into `fit` without touching the loop.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch

# Examples are sorted by length inside windows of this many batches, then the batches are
# shuffled: padding drops sharply while each batch still mixes examples from across the data
# (the "megabatch" scheme of transformers' LengthGroupedSampler).
_MEGABATCH_BATCHES = 50


@runtime_checkable
class BatchSampler(Protocol):
    """Batches of example indices per epoch; deterministic in the epoch number."""

    def num_batches(self) -> int:
        """Batches in every epoch (before sharding across processes)."""
        ...

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        """The epoch's batches; the same list every time it is asked for the same epoch."""
        ...


def epoch_batches(
    lengths: Sequence[int], batch_size: int, seed: int, epoch: int, group_by_length: bool
) -> list[list[int]]:
    """Every index once per epoch in seeded random order, optionally grouped by length."""
    generator = epoch_generator(seed, epoch)
    order = torch.randperm(len(lengths), generator=generator).tolist()
    if not group_by_length:
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    window = batch_size * _MEGABATCH_BATCHES
    batches: list[list[int]] = []
    for start in range(0, len(order), window):
        chunk = sorted(order[start : start + window], key=lambda index: -lengths[index])
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    shuffled = torch.randperm(len(batches), generator=generator).tolist()
    return [batches[index] for index in shuffled]


class ShuffledBatches:
    """The default: every example once per epoch, seeded shuffling, length grouping optional."""

    def __init__(
        self, lengths: Sequence[int], batch_size: int, seed: int, group_by_length: bool = True
    ) -> None:
        self.lengths = list(lengths)
        self.batch_size = batch_size
        self.seed = seed
        self.group_by_length = group_by_length

    def num_batches(self) -> int:
        return math.ceil(len(self.lengths) / self.batch_size)

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        return epoch_batches(self.lengths, self.batch_size, self.seed, epoch, self.group_by_length)


class ClassBalancedBatches:
    """Batches drawn with replacement so that every class is equally likely in expectation.

    An epoch has as many batches as one pass over the data would; an example of a class with
    n_c members is drawn with probability proportional to 1 / n_c, so rare classes are seen as
    often as frequent ones (over-sampling, the alternative to loss weights).
    """

    def __init__(self, labels: Sequence[int], batch_size: int, seed: int) -> None:
        if not labels:
            raise ValueError("a class-balanced sampler needs at least one example")
        counts = Counter(labels)
        self.weights = torch.tensor([1.0 / counts[label] for label in labels], dtype=torch.double)
        self.batch_size = batch_size
        self.seed = seed

    def num_batches(self) -> int:
        return math.ceil(len(self.weights) / self.batch_size)

    def epoch_batches(self, epoch: int) -> list[list[int]]:
        draws = torch.multinomial(
            self.weights,
            len(self.weights),
            replacement=True,
            generator=epoch_generator(self.seed, epoch),
        ).tolist()
        return [draws[i : i + self.batch_size] for i in range(0, len(draws), self.batch_size)]


def shard(batches: list[list[int]], rank: int, world_size: int) -> list[list[int]]:
    """This process's share of an epoch's batches: every world_size-th, from `rank`.

    The tail that does not fill one batch per process is dropped so that every process takes the
    same number of optimizer steps (data-parallel gradients are averaged across all of them).
    """
    if world_size <= 1:
        return batches
    usable = len(batches) - len(batches) % world_size
    return batches[rank:usable:world_size]


def batches_per_process(num_batches: int, world_size: int) -> int:
    return num_batches if world_size <= 1 else num_batches // world_size


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)
