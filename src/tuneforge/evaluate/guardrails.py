"""After a run, say whether the model is worse than trivial: below the baselines, or collapsed.

The baselines come from :func:`tuneforge.evaluate.baselines.baseline_metrics`, scored on the same
split as the model's metrics.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from rich.markup import escape

# The issue's definition of a collapsed model: "predicts one class for more than 90% of the
# test set".
COLLAPSE_SHARE = 0.9
# Metric values are floats from sums of counts; a difference below this is a tie.
_TIE_EPSILON = 1e-9

_ADVICE_TRIVIAL = (
    "set training.class_weighting: balanced, raise training.epochs or training.learning_rate, "
    "check the data report for label noise"
)
_ADVICE_TFIDF = (
    "raise training.epochs, try another training.learning_rate or a larger model; "
    "with little data the TF-IDF baseline may be the better model"
)


@dataclass(frozen=True)
class QualityWarning:
    """One finding about a trained model, shown on the terminal and written to the run folder."""

    code: str
    """"below_majority_baseline", "below_tfidf_baseline" or "single_class_collapse"."""
    message: str
    """One line with the numbers behind the finding; never raw text."""
    advice: str
    """What to try next."""

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "advice": self.advice}


def check_quality(
    model_metrics: dict[str, Any],
    baselines: dict[str, dict[str, Any]],
    *,
    metric: str,
    higher_is_better: bool,
    predicted_class_counts: dict[str, int] | None = None,
    true_class_counts: dict[str, int] | None = None,
    truncation_advice: str | None = None,
) -> list[QualityWarning]:
    """Warnings for a model that does not beat the baselines or predicts one class only.

    - ``below_majority_baseline``: the model does not beat the majority baseline on ``metric``
      (a tie counts as not beating it).
    - ``below_tfidf_baseline``: the model is strictly below TF-IDF + logistic regression.
    - ``single_class_collapse``: one class has more than ``COLLAPSE_SHARE`` of the predictions,
      unless the true labels give that class such a share too (then it is right to predict it).

    A comparison is skipped when the model's or the baseline's value of ``metric`` is missing or
    not a finite number: a guardrail reports, it never fails a finished run.

    Args:
        model_metrics: The model's metrics on the split the baselines were scored on.
        baselines: {"majority": metrics, "tfidf_logreg": metrics}; either may be missing.
        metric: Name of the metric to compare, e.g. "macro_f1".
        higher_is_better: Whether a larger ``metric`` is better.
        predicted_class_counts: Predictions per class name (classification), or None to skip the
            collapse check.
        true_class_counts: True labels per class name on the same split.
        truncation_advice: Why the model may trail TF-IDF when it read only part of the texts
            (data.report.truncation_advice); it comes first in that warning's advice.

    Returns:
        The warnings, in the order above; empty for a model that passes.
    """
    found = []
    model_value = _finite(model_metrics.get(metric))
    comparisons = (
        ("majority", "below_majority_baseline", "the majority-class baseline", _ADVICE_TRIVIAL),
        (
            "tfidf_logreg",
            "below_tfidf_baseline",
            "the TF-IDF + logistic regression baseline",
            f"{truncation_advice}; else {_ADVICE_TFIDF}" if truncation_advice else _ADVICE_TFIDF,
        ),
    )
    for name, code, description, advice in comparisons:
        baseline_value = _finite(baselines.get(name, {}).get(metric))
        if model_value is None or baseline_value is None:
            continue
        # Positive when the model is better, whatever the metric's direction.
        margin = (model_value - baseline_value) * (1 if higher_is_better else -1)
        fires = margin <= _TIE_EPSILON if name == "majority" else margin < -_TIE_EPSILON
        if fires:
            verb = "does not beat" if name == "majority" else "is below"
            found.append(
                QualityWarning(
                    code=code,
                    message=f"{metric} {model_value:.4f} {verb} {description} "
                    f"({baseline_value:.4f}).",
                    advice=advice,
                )
            )
    if predicted_class_counts:
        collapse = _collapse_warning(predicted_class_counts, true_class_counts)
        if collapse is not None:
            found.append(collapse)
    return found


def predicted_class_counts(
    confusion_matrix: dict[str, Any],
) -> tuple[dict[str, int], dict[str, int]]:
    """(predicted counts, true counts) from a classification metrics' confusion_matrix
    {labels, matrix} (rows true, columns predicted)."""
    labels = list(confusion_matrix["labels"])
    matrix = confusion_matrix["matrix"]
    if len(matrix) != len(labels) or any(len(row) != len(labels) for row in matrix):
        raise ValueError(f"expected a {len(labels)} x {len(labels)} confusion matrix")
    predicted = {name: int(sum(row[i] for row in matrix)) for i, name in enumerate(labels)}
    true = {name: int(sum(row)) for name, row in zip(labels, matrix, strict=True)}
    return predicted, true


def render_warnings(warnings: list[QualityWarning]) -> str:
    """Rich markup for the terminal: a bold yellow "Warning:" line and its advice per warning."""
    return "\n".join(
        f"[bold yellow]Warning:[/] {escape(warning.message)}\n  Try: {escape(warning.advice)}"
        for warning in warnings
    )


def _collapse_warning(
    predicted_counts: dict[str, int], true_counts: dict[str, int] | None
) -> QualityWarning | None:
    total = sum(predicted_counts.values())
    if total <= 0:
        return None
    top_class = max(predicted_counts, key=predicted_counts.__getitem__)
    share = predicted_counts[top_class] / total
    if share <= COLLAPSE_SHARE:
        return None
    if true_counts:
        true_total = sum(true_counts.values())
        true_share = true_counts.get(top_class, 0) / true_total if true_total else 0.0
        if true_share > COLLAPSE_SHARE:
            return None
        truth = f"; {true_share:.1%} truly belong to it"
    else:
        truth = ""
    return QualityWarning(
        code="single_class_collapse",
        message=f"The model predicts class {top_class!r} for {share:.1%} of the "
        f"{total} examples{truth}.",
        advice=_ADVICE_TRIVIAL,
    )


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None
