"""Temperature scaling (Guo et al. 2017, "On Calibration of Modern Neural Networks"): one scalar
T, fitted on the validation split, divides a classifier's logits before the softmax. It never
changes which class wins (accuracy and F1 stay as they are), only how confident the scores are.

Written here rather than taken from a library: the fit is one bounded scalar minimisation of
the validation NLL (scipy), and the calibration packages (netcal, torch-uncertainty) would add a
heavy dependency for it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax

from tuneforge.evaluate.metrics import expected_calibration_error

# log T is searched in [-4, 4]: T from 0.018 to 55, far beyond what a fine-tuned classifier needs
# (Guo et al. report 1.0-3.0), so the bound only stops a degenerate split from running away.
_LOG_T_BOUND = 4.0
# Fewer validation examples than this fit T to noise: the run keeps T = 1 and says so.
MIN_EXAMPLES = 20


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean cross-entropy of the true labels under softmax(logits / temperature)."""
    scores = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-scores[np.arange(len(labels)), labels].mean())


def fit_temperature(
    logits: np.ndarray, labels: np.ndarray, calibration_bins: int = 15
) -> dict[str, Any]:
    """The temperature minimising the validation NLL, with the NLL and the expected calibration
    error before and after (the numbers the run reports).

    Returns:
        {"temperature", "examples", "nll_before", "nll_after", "ece_before", "ece_after"};
        temperature 1.0 and a "skipped" reason with fewer than MIN_EXAMPLES examples.
    """
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    summary: dict[str, Any] = {"temperature": 1.0, "examples": len(labels)}
    if len(labels) < MIN_EXAMPLES:
        summary["skipped"] = f"{len(labels)} validation examples, fewer than {MIN_EXAMPLES}"
        return summary
    found = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, labels, float(np.exp(log_t))),
        bounds=(-_LOG_T_BOUND, _LOG_T_BOUND),
        method="bounded",
        options={"xatol": 1e-4},
    )
    temperature = float(np.exp(found.x))
    summary["temperature"] = round(temperature, 6)
    for name, value in (("before", 1.0), ("after", temperature)):
        summary[f"nll_{name}"] = round(negative_log_likelihood(logits, labels, value), 6)
        probabilities = np.exp(log_softmax(logits / value, axis=1))
        summary[f"ece_{name}"] = round(
            expected_calibration_error(probabilities, labels, calibration_bins), 6
        )
    return summary
