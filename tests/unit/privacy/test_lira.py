"""LiRA scoring against values worked out by hand, and the shadows' halves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tuneforge.privacy.audit import attack_scores, lira_scores, shadow_membership


def test_lira_online_and_offline_with_one_shadow_per_side() -> None:
    # Example 0: IN 3, OUT 1; example 1: IN 2, OUT 0. No within-example spread with one value
    # per side: the spread of all IN values (3, 2) and of all OUT values (1, 0), sd 0.5 each.
    keep = np.array([[True, False], [False, True]])
    shadow = np.array([[3.0, 0.0], [1.0, 2.0]])
    scores = lira_scores(np.array([3.0, 0.0]), shadow, keep, "fixed")
    # log N(3; 3, .5) - log N(3; 1, .5) = (2 / .5)^2 / 2 = 8; example 1 the mirror image.
    assert scores.online == pytest.approx([8.0, -8.0])
    # Offline: log Φ((3 - 1) / .5) and log Φ(0) = log 0.5.
    assert scores.offline[1] == pytest.approx(math.log(0.5))
    assert scores.offline[0] == pytest.approx(math.log(_normal_cdf(4.0)))


def test_lira_fixed_variance_pools_the_spread_around_each_examples_mean() -> None:
    # Two IN values per example: residuals ±1 and ±3 -> pooled variance (1+1+9+9) / 2 = 10.
    keep = np.array([[True, True], [True, True], [False, False], [False, False]])
    shadow = np.array([[1.0, 7.0], [3.0, 13.0], [0.0, 0.0], [0.0, 2.0]])
    scores = lira_scores(np.array([2.0, 10.0]), shadow, keep, "fixed")
    # IN: means (2, 10), variance 10; OUT: means (0, 1), residuals 0, 0, -1, 1 -> variance 1.
    # log N(2; 2, 10) - log N(2; 0, 1) = -log(10) / 2 + 2 (the 2π terms cancel).
    assert scores.online == pytest.approx([2 - math.log(10) / 2, 81 / 2 - math.log(10) / 2])
    assert scores.offline == pytest.approx([math.log(_normal_cdf(2.0)), math.log(_normal_cdf(9.0))])


def test_lira_offline_only_where_an_example_lacks_in_shadows() -> None:
    keep = np.array([[True, False], [True, False], [False, False]])
    scores, variant, _ = attack_scores(
        np.zeros(2), np.array([[1.0, 1.0], [2.0, 2.0], [0.0, 0.0]]), keep
    )
    assert variant == "offline" and "lira_offline" not in scores
    assert scores["lira"] is not None and len(scores["lira"]) == 2


def _normal_cdf(z: float) -> float:
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def test_lira_per_example_variance_needs_two_shadows_per_side() -> None:
    keep = shadow_membership(2, 5, seed=0)
    with pytest.raises(ValueError, match="two IN and two OUT"):
        lira_scores(np.zeros(5), np.zeros((2, 5)), keep, "per-example")


@pytest.mark.parametrize("shadows", [2, 3, 4, 7])
def test_lira_every_example_is_in_for_half_of_the_shadows(shadows: int) -> None:
    keep = shadow_membership(shadows, 50, seed=1)
    assert (keep.sum(axis=0) == math.ceil(shadows / 2)).all()
    assert not (keep == shadow_membership(shadows, 50, seed=2)).all()


def test_lira_separates_members_drawn_from_the_in_distribution() -> None:
    # Shadows: φ ~ N(2, 1) when IN, N(0, 1) when OUT; target members from IN, others from OUT.
    rng = np.random.default_rng(0)
    keep = shadow_membership(8, 400, seed=0)
    shadow = np.where(keep, 2.0, 0.0) + rng.normal(size=keep.shape)
    member = np.arange(400) < 200
    target = np.where(member, 2.0, 0.0) + rng.normal(size=400)
    scores, variant, variance = attack_scores(target, shadow, keep)
    assert (variant, variance) == ("online", "fixed")
    from tuneforge.privacy.audit.metrics import roc_auc

    # Two unit Gaussians 2 apart: AUC = Φ(2 / sqrt(2)) = 0.921.
    assert roc_auc(scores["lira"], member) == pytest.approx(0.921, abs=0.04)
    assert roc_auc(scores["loss"], member) == pytest.approx(0.921, abs=0.04)
