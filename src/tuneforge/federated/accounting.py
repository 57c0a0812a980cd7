"""Site-level privacy accounting of DP-FedAvg: each round is one Gaussian mechanism on the clipped
site updates, subsampled by the share of sites that train in it.

Opacus's RDP accountant (Mironov 2017; subsampled Gaussian, Mironov et al. 2019) does the
analysis; a round plays the part of a DP-SGD step and a site that of an example. Flower samples
a fixed number of sites per round rather than each one independently (Poisson), so the bound is
the usual approximation of DP-FedAvg (McMahan et al. 2018), not an exact guarantee.
"""

from __future__ import annotations

from tuneforge.errors import ConfigError


def _opacus():  # type: ignore[no-untyped-def]
    try:
        from opacus.accountants import RDPAccountant
        from opacus.accountants.utils import get_noise_multiplier
    except ImportError as error:
        raise ConfigError(
            "federated.privacy needs Opacus's privacy accountant: pip install 'tuneforge[dp]'"
        ) from error
    return RDPAccountant, get_noise_multiplier


def noise_for_epsilon(
    target_epsilon: float, delta: float, sample_rate: float, rounds: int
) -> float:
    """The noise multiplier that spends `target_epsilon` (at `delta`) over `rounds` rounds."""
    _, get_noise_multiplier = _opacus()
    return float(
        get_noise_multiplier(
            target_epsilon=target_epsilon,
            target_delta=delta,
            sample_rate=sample_rate,
            steps=rounds,
            accountant="rdp",
        )
    )


def epsilon_per_round(
    noise_multiplier: float, delta: float, sample_rate: float, rounds: int
) -> list[float]:
    """The epsilon spent after each round 1..rounds (cumulative)."""
    accountant_class, _ = _opacus()
    spent = []
    for done in range(1, rounds + 1):
        accountant = accountant_class()
        accountant.history = [(noise_multiplier, sample_rate, done)]
        spent.append(float(accountant.get_epsilon(delta)))
    return spent
