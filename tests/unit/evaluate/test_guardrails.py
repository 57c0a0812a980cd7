"""Quality guardrails fire for models worse than trivial and stay silent for good ones."""

from __future__ import annotations

import json

import pytest

from tuneforge.evaluate.guardrails import (
    COLLAPSE_SHARE,
    QualityWarning,
    check_quality,
    predicted_class_counts,
    render_warnings,
)

BASELINES = {
    "majority": {"macro_f1": 0.1333, "accuracy": 0.5, "expected_calibration_error": 0.5},
    "tfidf_logreg": {"macro_f1": 0.90, "accuracy": 0.92, "expected_calibration_error": 0.08},
}


def _codes(warnings: list[QualityWarning]) -> list[str]:
    return [warning.code for warning in warnings]


def test_guardrails_collapsed_model_warns_below_majority_and_collapse() -> None:
    # 100 examples, 50 true "a", 25 "b", 25 "c"; the model predicts "a" for all of them.
    confusion = {"labels": ["a", "b", "c"], "matrix": [[50, 0, 0], [25, 0, 0], [25, 0, 0]]}
    predicted, true = predicted_class_counts(confusion)
    assert predicted == {"a": 100, "b": 0, "c": 0}
    assert true == {"a": 50, "b": 25, "c": 25}
    # Its macro F1 is that of the majority baseline: (2*0.5/1.5)/3.
    model = {"macro_f1": (2 * 0.5 / 1.5) / 3, "accuracy": 0.5}
    baselines = {**BASELINES, "majority": {"macro_f1": (2 * 0.5 / 1.5) / 3, "accuracy": 0.5}}
    warnings = check_quality(
        model,
        baselines,
        metric="macro_f1",
        higher_is_better=True,
        predicted_class_counts=predicted,
        true_class_counts=true,
    )
    assert _codes(warnings) == [
        "below_majority_baseline",
        "below_tfidf_baseline",
        "single_class_collapse",
    ]
    collapse = warnings[-1]
    assert (
        "'a'" in collapse.message and "100.0%" in collapse.message and "50.0%" in collapse.message
    )


def test_guardrails_good_model_has_no_warnings() -> None:
    confusion = {"labels": ["a", "b", "c"], "matrix": [[48, 1, 1], [2, 22, 1], [1, 1, 23]]}
    predicted, true = predicted_class_counts(confusion)
    model = {"macro_f1": 0.92, "accuracy": 0.93}
    warnings = check_quality(
        model,
        BASELINES,
        metric="macro_f1",
        higher_is_better=True,
        predicted_class_counts=predicted,
        true_class_counts=true,
    )
    assert warnings == []
    assert render_warnings(warnings) == ""


def test_guardrails_skewed_truth_is_not_a_collapse() -> None:
    # 95 of 100 truly "a": predicting "a" 97 times is right, not a collapse.
    confusion = {"labels": ["a", "b"], "matrix": [[94, 1], [3, 2]]}
    predicted, true = predicted_class_counts(confusion)
    assert predicted["a"] / 100 > COLLAPSE_SHARE
    warnings = check_quality(
        {"macro_f1": 0.70},
        {"majority": {"macro_f1": 0.487}, "tfidf_logreg": {"macro_f1": 0.60}},
        metric="macro_f1",
        higher_is_better=True,
        predicted_class_counts=predicted,
        true_class_counts=true,
    )
    assert warnings == []


def test_guardrails_collapse_without_true_counts_warns() -> None:
    warnings = check_quality(
        {"macro_f1": 0.95},
        BASELINES,
        metric="macro_f1",
        higher_is_better=True,
        predicted_class_counts={"a": 91, "b": 9},
    )
    assert _codes(warnings) == ["single_class_collapse"]
    assert "91.0%" in warnings[0].message


def test_guardrails_share_at_threshold_is_not_a_collapse() -> None:
    warnings = check_quality(
        {"macro_f1": 0.95},
        BASELINES,
        metric="macro_f1",
        higher_is_better=True,
        predicted_class_counts={"a": 90, "b": 10},
        true_class_counts={"a": 50, "b": 50},
    )
    assert warnings == []  # exactly 90% is not "more than 90%"


def test_guardrails_between_baselines_is_only_the_soft_warning() -> None:
    warnings = check_quality({"macro_f1": 0.5}, BASELINES, metric="macro_f1", higher_is_better=True)
    assert _codes(warnings) == ["below_tfidf_baseline"]
    assert "0.5000" in warnings[0].message and "0.9000" in warnings[0].message


def test_guardrails_tfidf_advice_starts_with_truncation_when_texts_were_cut() -> None:
    hint = "the model read only the first 64 tokens of 100% of these texts, TF-IDF all of them"
    warnings = check_quality(
        {"macro_f1": 0.5},
        BASELINES,
        metric="macro_f1",
        higher_is_better=True,
        truncation_advice=hint,
    )
    assert _codes(warnings) == ["below_tfidf_baseline"]
    assert warnings[0].advice.startswith(f"{hint}; else raise training.epochs")
    trivial = check_quality(
        {"macro_f1": 0.05}, BASELINES, metric="macro_f1", higher_is_better=True,
        truncation_advice=hint,
    )  # fmt: skip
    assert hint not in trivial[0].advice  # below the majority: truncation is not the reason


def test_guardrails_tie_with_tfidf_is_not_below() -> None:
    warnings = check_quality(
        {"macro_f1": 0.90}, BASELINES, metric="macro_f1", higher_is_better=True
    )
    assert warnings == []


def test_guardrails_lower_is_better_metric_respects_direction() -> None:
    metric = "expected_calibration_error"
    assert check_quality({metric: 0.05}, BASELINES, metric=metric, higher_is_better=False) == []
    warnings = check_quality({metric: 0.6}, BASELINES, metric=metric, higher_is_better=False)
    assert _codes(warnings) == ["below_majority_baseline", "below_tfidf_baseline"]


def test_guardrails_missing_metric_skips_the_rule() -> None:
    baselines = {"majority": {"accuracy": 0.5}, "tfidf_logreg": {"macro_f1": 0.9}}
    warnings = check_quality({"macro_f1": 0.0}, baselines, metric="macro_f1", higher_is_better=True)
    assert _codes(warnings) == ["below_tfidf_baseline"]
    assert check_quality({}, BASELINES, metric="macro_f1", higher_is_better=True) == []
    assert check_quality({"macro_f1": 0.0}, {}, metric="macro_f1", higher_is_better=True) == []


def test_guardrails_warning_to_json_and_render() -> None:
    warning = QualityWarning(code="single_class_collapse", message="class [x] 95%", advice="retry")
    assert json.loads(json.dumps(warning.to_json())) == {
        "code": "single_class_collapse",
        "message": "class [x] 95%",
        "advice": "retry",
    }
    rendered = render_warnings([warning, warning])
    assert rendered.count("[bold yellow]Warning:[/]") == 2
    assert "\\[x]" in rendered  # user text is escaped, not read as markup
    from rich.text import Text

    assert "Warning: class [x] 95%" in Text.from_markup(rendered).plain


def test_guardrails_predicted_class_counts_rejects_bad_matrix() -> None:
    with pytest.raises(ValueError, match="2 x 2"):
        predicted_class_counts({"labels": ["a", "b"], "matrix": [[1, 2, 3], [4, 5, 6]]})
