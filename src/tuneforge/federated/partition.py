"""Site partitions of one dataset for federated experiments: IID, label skew, quantity skew.

Each partition is a list of example indices per site, a pure function of (keys, seed): the same
seed gives the same sites. Keys are the data stage's stratification keys (the class, the
rarest label of a multilabel row, a regression quintile, "has an entity" for NER), so a
partition is stratified wherever the data stage's splits are.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

import numpy as np

from tuneforge.errors import ConfigError

Scheme = Literal["iid", "dirichlet", "quantity"]


def draw_shares(
    keys: list[str], sites: int, scheme: Scheme, *, alpha: float, seed: int
) -> dict[str, np.ndarray]:
    """Each key's split over the sites (a probability vector per key).

    iid: equal shares; dirichlet: each key's shares drawn from Dirichlet(alpha) over the sites
    (label skew, Hsu et al. 2019); quantity: site sizes drawn once from Dirichlet(alpha) and used
    for every key (quantity skew without label skew). Drawn in sorted key order from `seed`
    alone, so the training and validation splits of one run get the same skew per site.
    """
    rng = np.random.default_rng(seed)
    names = sorted(set(keys))
    if scheme == "iid":
        return {name: np.full(sites, 1.0 / sites) for name in names}
    if scheme == "dirichlet":
        return {name: rng.dirichlet(np.full(sites, alpha)) for name in names}
    sizes = rng.dirichlet(np.full(sites, alpha))
    return {name: sizes for name in names}


def partition_indices(
    keys: list[str],
    shares: dict[str, np.ndarray],
    *,
    seed: int,
    every_site_nonempty: bool = True,
) -> list[list[int]]:
    """Indices of the examples each site holds (each index in exactly one site, sorted).

    Args:
        keys: one stratification key per example; each must have an entry in `shares`.
        shares: from :func:`draw_shares`.
        seed: shuffles which examples of a key go to which site.
        every_site_nonempty: move one example to a site a skewed draw left empty (a site
            without training data cannot train).

    Raises:
        ConfigError: more sites than examples while every site must hold one.
    """
    sites = len(next(iter(shares.values()))) if shares else 0
    if every_site_nonempty and sites > len(keys):
        raise ConfigError(
            f"federated.sites is {sites} but the training split has only {len(keys)} examples: "
            "every site needs at least one. Use fewer sites or more data."
        )
    rng = np.random.default_rng([seed, 1])
    by_key: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        by_key[key].append(index)
    assigned: list[list[int]] = [[] for _ in range(sites)]
    for offset, key in enumerate(sorted(by_key)):
        group = np.array(by_key[key])
        rng.shuffle(group)
        # The offset rotates where rounding remainders go, so no site always gets them.
        counts = _whole_counts(len(group), shares[key], offset)
        for site, part in enumerate(np.split(group, np.cumsum(counts)[:-1])):
            assigned[site].extend(int(i) for i in part)
    if every_site_nonempty:
        _fill_empty_sites(assigned)
    return [sorted(site) for site in assigned]


def _whole_counts(total: int, shares: np.ndarray, offset: int) -> np.ndarray:
    """Whole counts summing to `total` in proportion to `shares` (largest remainders first;
    ties go to the sites after `offset`, so equal shares deal remainders round-robin)."""
    exact = shares / shares.sum() * total
    counts = np.floor(exact).astype(int)
    order = np.roll(np.arange(len(shares)), -offset)
    remainders = (exact - counts)[order]
    for site in order[np.argsort(-remainders, kind="stable")][: total - counts.sum()]:
        counts[site] += 1
    return counts


def _fill_empty_sites(assigned: list[list[int]]) -> None:
    """A strongly skewed draw can leave a site empty; it takes one example from the largest
    site (a site with no data cannot train, and the caller checked there are enough)."""
    for site in assigned:
        if not site:
            donor = max(assigned, key=len)
            site.append(donor.pop())
