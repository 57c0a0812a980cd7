"""epoch_batches: a pure function of (seed, epoch) that covers every example once per epoch."""

from __future__ import annotations

import pytest
import torch

from tuneforge.training.sampling import epoch_batches

# 500 examples span two length-sorting windows (8 * 50 = 400) at batch size 8.
LENGTHS = torch.randint(5, 200, (500,), generator=torch.Generator().manual_seed(0)).tolist()


def _padding(batches: list[list[int]]) -> int:
    return sum(
        max(LENGTHS[i] for i in batch) * len(batch) - sum(LENGTHS[i] for i in batch)
        for batch in batches
    )


@pytest.mark.parametrize("group_by_length", [False, True])
def test_batching_deterministic_per_seed_and_epoch(group_by_length):
    first = epoch_batches(LENGTHS, 8, seed=3, epoch=1, group_by_length=group_by_length)

    assert first == epoch_batches(LENGTHS, 8, seed=3, epoch=1, group_by_length=group_by_length)
    assert first != epoch_batches(LENGTHS, 8, seed=3, epoch=2, group_by_length=group_by_length)
    assert first != epoch_batches(LENGTHS, 8, seed=4, epoch=1, group_by_length=group_by_length)


@pytest.mark.parametrize("group_by_length", [False, True])
def test_batching_covers_every_index_exactly_once(group_by_length):
    for epoch in range(3):
        batches = epoch_batches(LENGTHS, 8, seed=0, epoch=epoch, group_by_length=group_by_length)

        assert sorted(i for batch in batches for i in batch) == list(range(len(LENGTHS)))
        assert all(1 <= len(batch) <= 8 for batch in batches)
    # Without grouping only the last batch may be short.
    plain = epoch_batches(LENGTHS, 8, seed=0, epoch=0, group_by_length=False)
    assert [len(batch) for batch in plain] == [8] * 62 + [4]


def test_batching_group_by_length_cuts_padding():
    random = sum(_padding(epoch_batches(LENGTHS, 8, 0, epoch, False)) for epoch in range(3))
    grouped = sum(_padding(epoch_batches(LENGTHS, 8, 0, epoch, True)) for epoch in range(3))

    assert grouped < 0.2 * random


def test_batching_grouped_batches_are_shuffled():
    window = LENGTHS[:400]  # exactly one sorting window at batch size 8

    batches = epoch_batches(window, 8, seed=0, epoch=0, group_by_length=True)

    longest = [max(window[i] for i in batch) for batch in batches]
    # Length-sorted inside the window, but the batch order is shuffled, not longest first.
    assert longest != sorted(longest, reverse=True)
