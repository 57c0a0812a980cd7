"""Drift between a reference profile and a live window: PSI, chi-square, confidence and unk rate.

Both sides are profiles made by `monitoring.profile.summarise`; the live side is binned with the
reference's bin edges so that the two histograms line up.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from tuneforge.monitoring.profile import Observation, bin_counts, class_categories

# Empty bins make PSI infinite (log 0); a small floor keeps it finite and is the usual fix.
PSI_FLOOR = 1e-4


class DriftThresholds(BaseModel):
    """When live traffic counts as drifted from the reference (the alert thresholds)."""

    model_config = ConfigDict(extra="forbid")

    min_window_size: int = Field(100, ge=1)
    """Compare only once the window holds this many inputs (small windows are noisy)."""
    class_psi: float = Field(0.25, gt=0)
    """PSI of the predicted-class distribution; > 0.25 is the conventional 'major shift'."""
    class_p_value: float = Field(0.001, gt=0, lt=1)
    """Chi-square goodness-of-fit p-value below which the class distribution has shifted."""
    confidence_drop: float = Field(0.1, gt=0, le=1)
    """Fire when mean confidence falls by more than this (absolute) below the reference."""
    length_psi: float = Field(0.25, gt=0)
    """PSI of the input length in tokens."""
    unknown_rate_ratio: float = Field(3.0, gt=1)
    """Fire when the unknown-token rate exceeds the reference rate by this factor."""
    unknown_rate_floor: float = Field(0.01, ge=0, le=1)
    """...and is above this absolute rate (a reference rate of 0 would make any unk an alert)."""


def psi(expected_fractions: np.ndarray, actual_counts: np.ndarray) -> float:
    """Population stability index sum((a - e) * ln(a / e)) over bins, fractions floored."""
    expected = np.maximum(np.asarray(expected_fractions, dtype=np.float64), PSI_FLOOR)
    actual = np.asarray(actual_counts, dtype=np.float64)
    actual = np.maximum(actual / max(actual.sum(), 1.0), PSI_FLOOR)
    expected, actual = expected / expected.sum(), actual / actual.sum()
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def chi_square_p_value(expected_fractions: np.ndarray, observed_counts: np.ndarray) -> float:
    """p-value of the observed counts under the expected distribution (goodness of fit)."""
    from scipy.stats import chisquare

    observed = np.asarray(observed_counts, dtype=np.float64)
    total = observed.sum()
    if total == 0 or len(observed) < 2:
        return 1.0
    expected = np.maximum(np.asarray(expected_fractions, dtype=np.float64), PSI_FLOOR)
    expected = expected / expected.sum() * total
    return float(chisquare(observed, expected).pvalue)


def compare(
    reference: dict[str, Any], window: list[Observation], thresholds: DriftThresholds
) -> dict[str, Any]:
    """Drift statistics of a live window against the reference, and which thresholds it crosses.

    Returns:
        {"window_size", "ready" (window large enough), "statistics": {...}, "breaches": [...]},
        each breach {"metric", "value", "threshold"}.
    """
    report: dict[str, Any] = {
        "window_size": len(window),
        "ready": len(window) >= thresholds.min_window_size,
        "statistics": {},
        "breaches": [],
    }
    if not window:
        return report
    stats = report["statistics"]
    stats.update(_class_drift(reference, window))
    stats.update(_confidence_drift(reference, window))
    stats["length_tokens_psi"] = _numeric_psi(
        reference["length_tokens"], [o.length_tokens for o in window]
    )
    stats.update(_unknown_drift(reference, window))
    if report["ready"]:
        report["breaches"] = _breaches(stats, thresholds)
    return report


def _class_drift(reference: dict[str, Any], window: list[Observation]) -> dict[str, Any]:
    task = reference["task"]
    classes = reference["classes"]
    kind = classes["kind"]
    if kind == "predicted_value":
        values = [o.value for o in window if o.value is not None]
        return {"class_psi": _numeric_psi(classes, values)}
    names = class_categories(task, reference["label_names"])
    live = np.array([sum(name in o.classes for o in window) for name in names], dtype=np.float64)
    if kind == "label_positive_rate":
        # Rates per input do not sum to 1: compare each label as present/absent and keep the worst.
        rates = np.array([classes["rates"][n] for n in names])
        per_label = [
            psi(np.array([r, 1 - r]), np.array([c, len(window) - c]))
            for r, c in zip(rates, live, strict=True)
        ]
        p_values = [
            chi_square_p_value(np.array([r, 1 - r]), np.array([c, len(window) - c]))
            for r, c in zip(rates, live, strict=True)
        ]
        return {
            "class_psi": max(per_label, default=0.0),
            "class_p_value": min(p_values, default=1.0),
            "class_live": dict(zip(names, (live / len(window)).tolist(), strict=True)),
        }
    expected = np.array([classes["distribution"][n] for n in names])
    if live.sum() == 0:  # e.g. NER inputs without any entity: nothing to compare yet
        return {"class_psi": None, "class_p_value": None, "class_live": {}}
    return {
        "class_psi": psi(expected, live),
        "class_p_value": chi_square_p_value(expected, live),
        "class_live": dict(zip(names, (live / live.sum()).tolist(), strict=True)),
    }


def _confidence_drift(reference: dict[str, Any], window: list[Observation]) -> dict[str, Any]:
    live = [o.confidence for o in window if o.confidence is not None]
    reference_mean = reference["confidence"]["mean"]
    if not live or reference_mean is None:
        return {"confidence_mean": None, "confidence_drop": None}
    live_mean = float(np.mean(live))
    return {"confidence_mean": live_mean, "confidence_drop": reference_mean - live_mean}


def _numeric_psi(reference_summary: dict[str, Any], values: list[float]) -> float | None:
    if not values or not reference_summary.get("bin_fractions"):
        return None
    counts = bin_counts(np.asarray(values, dtype=np.float64), reference_summary["bin_edges"])
    return psi(np.asarray(reference_summary["bin_fractions"]), counts)


def _unknown_drift(reference: dict[str, Any], window: list[Observation]) -> dict[str, Any]:
    tokens = sum(o.length_tokens for o in window)
    rate = sum(o.unknown_tokens for o in window) / tokens if tokens else 0.0
    return {"unknown_rate": rate, "reference_unknown_rate": reference["unknown_tokens"]["rate"]}


def _breaches(stats: dict[str, Any], thresholds: DriftThresholds) -> list[dict[str, Any]]:
    checks = [
        ("class_psi", stats.get("class_psi"), thresholds.class_psi, "above"),
        ("class_p_value", stats.get("class_p_value"), thresholds.class_p_value, "below"),
        ("confidence_drop", stats.get("confidence_drop"), thresholds.confidence_drop, "above"),
        ("length_tokens_psi", stats.get("length_tokens_psi"), thresholds.length_psi, "above"),
    ]
    breaches = [
        {"metric": metric, "value": value, "threshold": limit}
        for metric, value, limit, direction in checks
        if value is not None and (value > limit if direction == "above" else value < limit)
    ]
    rate, reference_rate = stats["unknown_rate"], stats["reference_unknown_rate"]
    limit = max(reference_rate * thresholds.unknown_rate_ratio, thresholds.unknown_rate_floor)
    if rate > limit:
        breaches.append({"metric": "unknown_rate", "value": rate, "threshold": limit})
    return breaches
