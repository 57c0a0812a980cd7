"""Site-level RDP accounting of DP-FedAvg (Opacus's RDP analysis)."""

from __future__ import annotations

import itertools

import pytest

from tuneforge.federated.accounting import epsilon_per_round, noise_for_epsilon


def test_accounting_epsilon_grows_each_round_and_falls_with_noise() -> None:
    spent = epsilon_per_round(1.0, 1e-5, sample_rate=0.6, rounds=10)
    assert len(spent) == 10
    assert all(a < b for a, b in itertools.pairwise(spent))
    quieter = epsilon_per_round(2.0, 1e-5, sample_rate=0.6, rounds=10)
    assert quieter[-1] < spent[-1]
    # Sampling fewer sites per round amplifies privacy.
    assert epsilon_per_round(1.0, 1e-5, sample_rate=0.2, rounds=10)[-1] < spent[-1]


def test_accounting_noise_for_target_spends_the_target() -> None:
    noise = noise_for_epsilon(8.0, 1e-5, sample_rate=1.0, rounds=10)
    spent = epsilon_per_round(noise, 1e-5, sample_rate=1.0, rounds=10)[-1]
    # get_noise_multiplier searches to within its epsilon_tolerance (0.01) below the target.
    assert spent == pytest.approx(8.0, abs=0.05)
    assert spent <= 8.0


def test_accounting_full_participation_matches_the_gaussian_mechanism() -> None:
    """Without sampling, T rounds of the Gaussian mechanism with noise sigma have RDP
    T * alpha / (2 sigma^2) at order alpha (Mironov 2017, Prop. 7 and composition)."""
    import math

    sigma, rounds, delta = 3.0, 4, 1e-5
    best = min(
        rounds * alpha / (2 * sigma**2) + math.log(1 / delta) / (alpha - 1)
        for alpha in [1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64))
    )
    spent = epsilon_per_round(sigma, delta, sample_rate=1.0, rounds=rounds)[-1]
    # Opacus uses the tighter conversion of Balle et al. 2020, so it is at most this bound.
    assert spent <= best + 1e-9
    assert spent > 0.7 * best
