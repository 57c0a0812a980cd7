"""The audit's numbers against values worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tuneforge.privacy.audit.metrics import (
    attack_metrics,
    balanced_accuracy,
    chance_auc_interval,
    epsilon_lower_bound,
    fpr_resolvable,
    roc,
    roc_auc,
    tpr_at_fpr,
)


def test_audit_metrics_auc_counts_member_non_member_pairs() -> None:
    # Pairs (member, non-member): 0.35 > 0.1, 0.35 < 0.4, 0.8 beats both: 3 of 4.
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    assert roc_auc(scores, np.array([0, 0, 1, 1])) == pytest.approx(0.75)


def test_audit_metrics_tpr_at_fpr_and_balanced_accuracy() -> None:
    # Descending: 5m 4m 3.5n 3m 2n 1m 0n -1n -> (FPR, TPR) steps (0, .5) (.25, .75) (.5, 1).
    scores = np.array([5, 4, 3, 1, 3.5, 2, 0, -1], dtype=float)
    curve = roc(scores, np.array([1, 1, 1, 1, 0, 0, 0, 0]))
    assert tpr_at_fpr(curve, 0.0) == pytest.approx(0.5)
    assert tpr_at_fpr(curve, 0.25) == pytest.approx(0.75)
    assert tpr_at_fpr(curve, 0.49) == pytest.approx(0.75)
    assert tpr_at_fpr(curve, 0.5) == pytest.approx(1.0)
    assert balanced_accuracy(curve) == pytest.approx(0.75)
    assert not fpr_resolvable(curve, 0.01)


def test_audit_metrics_epsilon_bound_of_a_perfect_attack() -> None:
    # 100 members above 100 non-members: no error at the best threshold. The Clopper-Pearson
    # upper end of 0 errors in 100 at 95% two-sided is 1 - 0.025^(1/100), so
    # ε >= log((1 - u) / u).
    scores = np.concatenate([np.arange(100) + 1000.0, np.arange(100.0)])
    curve = roc(scores, np.arange(200) < 100)
    upper = 1 - 0.025 ** (1 / 100)
    assert upper == pytest.approx(0.036217, abs=1e-6)
    assert epsilon_lower_bound(curve, delta=0.0) == pytest.approx(math.log((1 - upper) / upper))
    # δ takes its share of the numerator: a smaller bound.
    assert epsilon_lower_bound(curve, delta=0.1) == pytest.approx(
        math.log((1 - 0.1 - upper) / upper)
    )


def test_audit_metrics_epsilon_bound_is_zero_without_signal() -> None:
    curve = roc(np.zeros(200), np.arange(200) < 100)
    assert epsilon_lower_bound(curve, delta=0.0) == 0.0
    metrics = attack_metrics(np.zeros(200), np.arange(200) < 100, delta=1e-5)
    assert metrics["auc"] == pytest.approx(0.5)
    assert metrics["tpr_at_1pct_fpr"] == 0.0
    assert metrics["tpr_at_1pct_fpr_resolvable"] and not metrics["tpr_at_0.1pct_fpr_resolvable"]


def test_audit_metrics_chance_interval_matches_the_mann_whitney_null() -> None:
    # sd = sqrt((m + n + 1) / (12 m n)) = sqrt(201 / 120000); 1.96 sd.
    assert chance_auc_interval(100, 100) == pytest.approx(1.959964 * math.sqrt(201 / 120000))
