"""The likelihood-ratio attack (LiRA, Carlini et al. 2022, "Membership Inference Attacks From
First Principles"): fit a Gaussian to an example's logit-scaled confidence φ under shadow models
that trained on it (IN) and that did not (OUT), and ask which one the target's φ fits better.

Written here rather than imported: the reference code (tensorflow/privacy's lira/ folder) is a
research script, not a package; the scoring itself is a few lines over SciPy's normal density.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

Variance = Literal["auto", "fixed", "per-example"]

PER_EXAMPLE_VARIANCE_SHADOWS = 64
"""From this many shadows on, `auto` estimates a variance per example; below, one shared
variance: Carlini et al. 2022 (§VI-A, Fig. 7) find per-example variances need many shadows and a
fixed one is better with few."""


@dataclass(frozen=True)
class LiraScores:
    online: np.ndarray | None
    """Log-likelihood ratio IN vs OUT per example; None where some example lacks IN or OUT
    shadows (the audit then reports the offline variant)."""
    offline: np.ndarray
    """One-sided: log P[Z <= φ] for Z ~ OUT Gaussian (higher: more member-like)."""
    variance: str
    """"fixed" or "per-example", as used."""


def shadow_membership(shadows: int, examples: int, seed: int) -> np.ndarray:
    """(shadows, examples) booleans: which examples each shadow trains on. Every example is IN
    for exactly half of the shadows (rounded up), as in the reference code: random ranks per
    example, the lowest half IN; so each shadow trains on about half of the pool."""
    rng = np.random.default_rng(seed)
    ranks = rng.uniform(size=(shadows, examples)).argsort(axis=0).argsort(axis=0)
    return ranks < shadows / 2


def lira_scores(
    target: np.ndarray, shadow: np.ndarray, keep: np.ndarray, variance: Variance = "auto"
) -> LiraScores:
    """LiRA scores of the target model's φ against the shadows' φ.

    Args:
        target: (n,) φ of the target model per example.
        shadow: (shadows, n) φ of each shadow model per example.
        keep: (shadows, n) whether each shadow trained on each example.
        variance: "fixed" shares one variance per side (IN, OUT) over all examples, "per-example"
            estimates one per example (needs 2+ IN and 2+ OUT shadows each), "auto" picks
            per-example from PER_EXAMPLE_VARIANCE_SHADOWS shadows on.

    Raises:
        ValueError: "per-example" with fewer than two IN or OUT shadows for some example.
    """
    from scipy.stats import norm

    keep = np.asarray(keep, bool)
    shadow = np.asarray(shadow, np.float64)
    if variance == "auto":
        variance = "per-example" if len(shadow) >= PER_EXAMPLE_VARIANCE_SHADOWS else "fixed"
    mean_out, sd_out = _gaussian(shadow, ~keep, variance)
    offline = norm.logcdf(target, mean_out, sd_out)
    online = None
    if keep.any(axis=0).all() and (~keep).any(axis=0).all():
        mean_in, sd_in = _gaussian(shadow, keep, variance)
        online = norm.logpdf(target, mean_in, sd_in) - norm.logpdf(target, mean_out, sd_out)
    return LiraScores(online, offline, variance)


def _gaussian(
    values: np.ndarray, mask: np.ndarray, variance: str
) -> tuple[np.ndarray, np.ndarray | float]:
    """Per-example means over the masked shadows, and their standard deviation(s)."""
    counts = mask.sum(axis=0)
    if variance == "per-example" and (counts < 2).any():
        raise ValueError(
            "a per-example variance needs at least two IN and two OUT shadows for every example; "
            "train more shadows or use the fixed variance."
        )
    sums = np.where(mask, values, 0.0).sum(axis=0)
    means = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0)
    residuals = np.where(mask, values - means, 0.0)
    if variance == "per-example":
        return means, np.sqrt((residuals**2).sum(axis=0) / (counts - 1))
    # One variance of φ around each example's own mean, pooled over examples.
    freedom = int(counts.sum() - (counts > 0).sum())
    if freedom > 0:
        sd = float(np.sqrt((residuals**2).sum() / freedom))
    else:
        # One shadow per side and example: no spread around an example's mean to measure. The
        # spread of all masked values (what the reference code's fixed variance uses) is wider
        # and so errs towards a weaker attack.
        sd = float(values[mask].std())
    return means, max(sd, 1e-6)
