"""How well an attack's scores separate members from non-members: ROC, AUC, TPR at a low FPR,
balanced accuracy and an empirical lower bound on the ε of differential privacy.

Scores are "higher means member". The ROC and AUC come from scikit-learn; the ε bound is
written here because no maintained library computes it (it is a few lines over SciPy's beta
quantiles, the Clopper-Pearson interval).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
"""Two-sided level of the Clopper-Pearson intervals behind the ε lower bound (Jagielski et al.
2020 use 95%)."""


@dataclass(frozen=True)
class Roc:
    """Every threshold's false and true positive rate, and the counts behind them."""

    fpr: np.ndarray
    tpr: np.ndarray
    members: int
    non_members: int


def roc(scores: np.ndarray, is_member: np.ndarray) -> Roc:
    """The full ROC curve (every distinct threshold kept, for the ε bound)."""
    from sklearn.metrics import roc_curve

    is_member = np.asarray(is_member, dtype=bool)
    fpr, tpr, _ = roc_curve(is_member, np.asarray(scores, np.float64), drop_intermediate=False)
    return Roc(fpr, tpr, int(is_member.sum()), int((~is_member).sum()))


def roc_auc(scores: np.ndarray, is_member: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(np.asarray(is_member, bool), np.asarray(scores, np.float64)))


def tpr_at_fpr(curve: Roc, max_fpr: float) -> float:
    """The highest TPR among thresholds whose FPR is at most `max_fpr` (Carlini et al. 2022)."""
    allowed = curve.fpr <= max_fpr + 1e-12
    return float(curve.tpr[allowed].max()) if allowed.any() else 0.0


def fpr_resolvable(curve: Roc, max_fpr: float) -> bool:
    """Whether the non-member sample can show an FPR of `max_fpr` at all: below one false
    positive in 1/max_fpr non-members, TPR at that FPR is TPR at FPR 0."""
    return curve.non_members * max_fpr >= 1.0


def balanced_accuracy(curve: Roc) -> float:
    """The best membership accuracy over thresholds on balanced classes: max (TPR + TNR) / 2."""
    return float(((curve.tpr + 1.0 - curve.fpr) / 2.0).max())


def clopper_pearson_upper(
    errors: np.ndarray, trials: int, confidence: float = CONFIDENCE
) -> np.ndarray:
    """Upper end of the two-sided Clopper-Pearson interval of a binomial rate (exact: never
    below the true rate more often than (1 - confidence) / 2 of the time)."""
    from scipy.stats import beta

    errors = np.asarray(errors, dtype=np.float64)
    alpha = 1.0 - confidence
    upper = beta.ppf(1.0 - alpha / 2.0, errors + 1.0, np.maximum(trials - errors, 1e-300))
    return np.where(errors >= trials, 1.0, upper)


def epsilon_lower_bound(curve: Roc, delta: float, confidence: float = CONFIDENCE) -> float:
    """The ε that no (ε, δ)-DP training could have while letting this attack do this well.

    For any threshold, (ε, δ)-DP implies FPR + e^ε FNR >= 1 - δ and FNR + e^ε FPR >= 1 - δ
    (Kairouz et al. 2015), so ε >= log((1 - δ - FNR) / FPR) and the symmetric term. With the
    rates replaced by their Clopper-Pearson upper bounds the bound holds with the interval's
    confidence (Jagielski et al. 2020, Nasr et al. 2021). The maximum over thresholds is taken
    on the same sample: a threshold picked this way makes the bound slightly optimistic
    (Jagielski et al. pick it on a separate set); say so wherever it is reported.

    Returns:
        0.0 when no threshold gives a positive bound.
    """
    false_positives = np.rint(curve.fpr * curve.non_members)
    false_negatives = np.rint((1.0 - curve.tpr) * curve.members)
    fpr_high = clopper_pearson_upper(false_positives, curve.non_members, confidence)
    fnr_high = clopper_pearson_upper(false_negatives, curve.members, confidence)
    best = 0.0
    for numerator, denominator in (
        (1.0 - delta - fnr_high, fpr_high),
        (1.0 - delta - fpr_high, fnr_high),
    ):
        usable = (numerator > 0) & (denominator > 0)
        if usable.any():
            best = max(best, float(np.log(numerator[usable] / denominator[usable]).max()))
    return best


def attack_metrics(scores: np.ndarray, is_member: np.ndarray, delta: float) -> dict[str, object]:
    """The report's numbers for one attack's scores."""
    curve = roc(scores, is_member)
    return {
        "auc": roc_auc(scores, is_member),
        "tpr_at_1pct_fpr": tpr_at_fpr(curve, 0.01),
        "tpr_at_0.1pct_fpr": tpr_at_fpr(curve, 0.001),
        "tpr_at_1pct_fpr_resolvable": fpr_resolvable(curve, 0.01),
        "tpr_at_0.1pct_fpr_resolvable": fpr_resolvable(curve, 0.001),
        "balanced_accuracy": balanced_accuracy(curve),
        "epsilon_lower_bound": epsilon_lower_bound(curve, delta),
    }


def chance_auc_interval(members: int, non_members: int, confidence: float = CONFIDENCE) -> float:
    """Half-width of the range an attack with no signal lands its AUC in (normal approximation
    of the Mann-Whitney U under the null: sd = sqrt((m + n + 1) / (12 m n)))."""
    from scipy.stats import norm

    sd = math.sqrt((members + non_members + 1) / (12.0 * members * non_members))
    return float(norm.ppf(0.5 + confidence / 2.0) * sd)
