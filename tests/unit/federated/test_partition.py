"""Site partitions: seeded, every example in exactly one site, IID stratified, skew as asked."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tuneforge.errors import ConfigError
from tuneforge.federated.partition import draw_shares, partition_indices

# 5 classes of 60, 40, 30, 20, 10 examples, interleaved.
KEYS = [key for key, count in zip("abcde", (60, 40, 30, 20, 10), strict=True) for _ in range(count)]
KEYS = [KEYS[i] for i in np.random.default_rng(0).permutation(len(KEYS))]


def sites_of(scheme: str, *, sites: int = 4, alpha: float = 0.5, seed: int = 7):
    shares = draw_shares(KEYS, sites, scheme, alpha=alpha, seed=seed)
    return partition_indices(KEYS, shares, seed=seed)


@pytest.mark.parametrize("scheme", ["iid", "dirichlet", "quantity"])
def test_partition_covers_every_example_once_and_is_seeded(scheme: str) -> None:
    parts = sites_of(scheme)
    flat = sorted(i for part in parts for i in part)
    assert flat == list(range(len(KEYS)))
    assert all(parts), "no site is empty"
    assert sites_of(scheme) == parts
    assert sites_of(scheme, seed=8) != parts


def test_partition_iid_is_stratified() -> None:
    parts = sites_of("iid")
    for key, total in Counter(KEYS).items():
        counts = [sum(KEYS[i] == key for i in part) for part in parts]
        assert max(counts) - min(counts) <= 1, (key, counts)
        assert sum(counts) == total


def _label_skew(parts: list[list[int]]) -> float:
    """Mean over sites of the total-variation distance between the site's label distribution
    and the whole's."""
    whole = Counter(KEYS)
    distances = []
    for part in parts:
        site = Counter(KEYS[i] for i in part)
        distances.append(0.5 * sum(abs(site[k] / len(part) - whole[k] / len(KEYS)) for k in whole))
    return float(np.mean(distances))


def test_partition_dirichlet_skews_labels_more_as_alpha_falls() -> None:
    iid = _label_skew(sites_of("iid"))
    mild = np.mean([_label_skew(sites_of("dirichlet", alpha=10.0, seed=s)) for s in range(5)])
    strong = np.mean([_label_skew(sites_of("dirichlet", alpha=0.1, seed=s)) for s in range(5)])
    assert iid < 0.05
    assert mild < strong
    assert strong > 0.3


def test_partition_quantity_skews_sizes_not_labels() -> None:
    parts = sites_of("quantity", alpha=0.5, seed=3)
    sizes = sorted(len(part) for part in parts)
    assert sizes[-1] > 2 * sizes[0]
    # Each site keeps the whole's label mix (up to rounding of small sites).
    assert _label_skew([p for p in parts if len(p) >= 20]) < 0.1


def test_partition_same_skew_for_train_and_validation() -> None:
    """One draw of shares serves both splits, so a site's validation rows look like its own."""
    shares = draw_shares(KEYS, 3, "dirichlet", alpha=0.3, seed=1)
    again = draw_shares(KEYS[:50], 3, "dirichlet", alpha=0.3, seed=1)
    for key in shares:
        np.testing.assert_allclose(shares[key], again[key])


def test_partition_more_sites_than_examples_fails() -> None:
    shares = draw_shares(["a", "b"], 3, "iid", alpha=1.0, seed=0)
    with pytest.raises(ConfigError, match=r"federated.sites is 3 .* only 2 examples"):
        partition_indices(["a", "b"], shares, seed=0)
