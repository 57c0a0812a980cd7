"""The order in which training examples are batched, reproducible from (seed, epoch) alone.

Because an epoch's batch list is a pure function of the seed and the epoch number, a resumed run
rebuilds it and skips the batches already consumed: the data position is one integer.
"""

from __future__ import annotations

import torch

# Examples are sorted by length inside windows of this many batches, then the batches are
# shuffled: padding drops sharply while each batch still mixes examples from across the data
# (the "megabatch" scheme of transformers' LengthGroupedSampler).
_MEGABATCH_BATCHES = 50


def epoch_batches(
    lengths: list[int], batch_size: int, seed: int, epoch: int, group_by_length: bool
) -> list[list[int]]:
    """Batches of example indices for one epoch."""
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
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
