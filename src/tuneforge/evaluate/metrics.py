"""Task metrics as plain JSON-ready dicts, computed by scikit-learn, seqeval and scipy.

Every function returns Python floats, ints, lists and dicts only, so the result can go straight
to ``json.dump`` and to the training log. The one metric written here by hand is the expected
calibration error, which none of those libraries provides.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy.stats import pearsonr, spearmanr
from seqeval.metrics import accuracy_score as token_accuracy_score
from seqeval.metrics import classification_report
from seqeval.scheme import IOB2
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    hamming_loss,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_curve,
    r2_score,
    root_mean_squared_error,
)

from tuneforge.evaluate._calibration import reliability_bins
from tuneforge.evaluate._scores import averaged_scores, check_shapes, per_name_scores

_LOWER_IS_BETTER = frozenset(
    {"mse", "rmse", "mae", "loss", "expected_calibration_error", "hamming_loss"}
)
# A label with no positives in the validation data gives no evidence for any cut: keep the
# usual 0.5 cut of a sigmoid output.
_UNTUNED_THRESHOLD = 0.5


def classification_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    label_names: list[str],
    calibration_bins: int = 15,
) -> dict[str, Any]:
    """Single-label classification metrics of arg-max predictions.

    Every class in ``label_names`` gets a per-class row, also when absent from the data
    (support 0); undefined precision or recall counts as 0 (``zero_division=0``). Macro averages
    run over the classes that occur in the labels or the predictions (scikit-learn's default):
    a class absent from both has no precision or recall to average, and counting it as 0 would
    score a file holding two of five classes far below its per-class figures.

    Args:
        labels: True class indices, shape (n,).
        probabilities: Predicted class probabilities, shape (n, k) with k = len(label_names).
        label_names: Class names in index order.
        calibration_bins: Equal-width bins of the expected calibration error.

    Returns:
        accuracy, {macro,micro,weighted}_{precision,recall,f1}, expected_calibration_error,
        per_class {name: {precision, recall, f1, support}}, confusion_matrix {labels, matrix}
        (rows true, columns predicted) and num_examples.
    """
    labels = np.asarray(labels)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    check_shapes(labels, probabilities, label_names, multilabel=False)
    if labels.min() < 0 or labels.max() >= len(label_names):
        raise ValueError(
            f"labels must lie in [0, {len(label_names)}), got {labels.min()}..{labels.max()}"
        )
    predictions = probabilities.argmax(axis=1)
    class_ids = list(range(len(label_names)))
    occurring = sorted({int(i) for i in labels} | {int(i) for i in predictions})
    result: dict[str, Any] = {"accuracy": float(accuracy_score(labels, predictions))}
    result |= averaged_scores(labels, predictions, occurring, ("macro", "micro", "weighted"))
    bins = reliability_bins(probabilities, labels, calibration_bins)
    result["expected_calibration_error"] = bins.expected_calibration_error
    result["reliability"] = bins.to_json()
    result["per_class"] = per_name_scores(labels, predictions, class_ids, label_names)
    matrix = confusion_matrix(labels, predictions, labels=class_ids)
    result["confusion_matrix"] = {"labels": list(label_names), "matrix": matrix.tolist()}
    result["num_examples"] = len(labels)
    return result


def multilabel_metrics(
    labels: np.ndarray,
    probabilities: np.ndarray,
    label_names: list[str],
    thresholds: np.ndarray,
) -> dict[str, Any]:
    """Multi-label metrics of per-label thresholded predictions (positive when p >= threshold).

    Args:
        labels: True label indicators, shape (n, k), 0 or 1.
        probabilities: Predicted per-label probabilities, shape (n, k).
        label_names: Label names in column order.
        thresholds: Per-label cut, shape (k,), e.g. from :func:`tune_thresholds`.

    Returns:
        {micro,macro,weighted,samples}_{precision,recall,f1}, subset_accuracy (exact match),
        hamming_loss, per_label {name: {precision, recall, f1, support, threshold}} and
        num_examples.
    """
    labels = np.asarray(labels).astype(np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    thresholds = np.asarray(thresholds, dtype=np.float64)
    check_shapes(labels, probabilities, label_names, multilabel=True)
    if len(label_names) < 2:
        # sklearn reads a single indicator column as a binary target, where the samples average
        # is undefined; one yes/no label is a two-class classification task.
        raise ValueError("multi-label metrics need at least two labels")
    if thresholds.shape != (len(label_names),):
        raise ValueError(f"expected {len(label_names)} thresholds, got shape {thresholds.shape}")
    predictions = (probabilities >= thresholds).astype(np.int64)
    label_ids = list(range(len(label_names)))
    averages = ("micro", "macro", "weighted", "samples")
    result = averaged_scores(labels, predictions, label_ids, averages)
    result["subset_accuracy"] = float(accuracy_score(labels, predictions))
    result["hamming_loss"] = float(hamming_loss(labels, predictions))
    result["per_label"] = per_name_scores(labels, predictions, label_ids, label_names)
    for name, threshold in zip(label_names, thresholds, strict=True):
        result["per_label"][name]["threshold"] = float(threshold)
    result["num_examples"] = len(labels)
    return result


def tune_thresholds(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Per-label cut that maximises that label's F1 on the given (validation) data.

    The candidates are the label's distinct probabilities (each is a cut in
    ``sklearn.metrics.precision_recall_curve``); among equal F1 the lowest cut wins. The returned
    threshold is the midpoint between the best cut and the next lower probability (0 below the
    lowest), like the split points of CART trees (Breiman et al. 1984): the same predictions on
    this data, with a margin on both sides for unseen examples.

    Args:
        labels: True label indicators, shape (n, k), 0 or 1.
        probabilities: Predicted per-label probabilities, shape (n, k).

    Returns:
        Thresholds, shape (k,); 0.5 for a label without positives.
    """
    labels = np.asarray(labels).astype(np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if labels.ndim != 2 or labels.shape != probabilities.shape or labels.shape[0] == 0:
        raise ValueError(
            f"expected non-empty labels and probabilities of the same shape (n, k), got "
            f"{labels.shape} and {probabilities.shape}"
        )
    thresholds = np.full(labels.shape[1], _UNTUNED_THRESHOLD)
    for column in range(labels.shape[1]):
        if labels[:, column].sum() == 0:
            continue
        scores = probabilities[:, column]
        precision, recall, cuts = precision_recall_curve(
            labels[:, column], scores, drop_intermediate=False
        )
        # The last (precision 1, recall 0) point has no cut.
        precision, recall = precision[:-1], recall[:-1]
        denominator = precision + recall
        f1 = np.divide(
            2 * precision * recall,
            denominator,
            out=np.zeros_like(denominator),
            where=denominator > 0,
        )
        best_cut = cuts[int(np.argmax(f1))]
        below = scores[scores < best_cut]
        thresholds[column] = (best_cut + (below.max() if below.size else 0.0)) / 2
    return thresholds


def regression_metrics(targets: np.ndarray, predictions: np.ndarray) -> dict[str, Any]:
    """Regression error and correlation metrics.

    Args:
        targets: True values, shape (n,).
        predictions: Predicted values, shape (n,).

    Returns:
        mse, rmse, mae, r2, spearman, pearson and num_examples. A correlation is None where it is
        undefined (fewer than two examples, or constant targets or predictions); so is r2 for
        fewer than two examples. For constant targets r2 is sklearn's 1.0 (exact) or 0.0.
    """
    targets = np.asarray(targets, dtype=np.float64).ravel()
    predictions = np.asarray(predictions, dtype=np.float64).ravel()
    if targets.shape != predictions.shape or targets.size == 0:
        raise ValueError(
            f"expected non-empty targets and predictions of one length, got {targets.size} "
            f"and {predictions.size}"
        )
    spearman = pearson = None
    if targets.size >= 2 and np.ptp(targets) > 0 and np.ptp(predictions) > 0:
        spearman = _finite_or_none(spearmanr(targets, predictions).statistic)
        pearson = _finite_or_none(pearsonr(targets, predictions).statistic)
    return {
        "mse": float(mean_squared_error(targets, predictions)),
        "rmse": float(root_mean_squared_error(targets, predictions)),
        "mae": float(mean_absolute_error(targets, predictions)),
        # sklearn returns nan with a warning for a single example; checked here to keep logs clean.
        "r2": float(r2_score(targets, predictions)) if targets.size >= 2 else None,
        "spearman": spearman,
        "pearson": pearson,
        "num_examples": int(targets.size),
    }


def ner_metrics(true_tags: list[list[str]], predicted_tags: list[list[str]]) -> dict[str, Any]:
    """Entity-level NER metrics by seqeval in strict IOB2 mode, plus token accuracy.

    Strict mode counts an entity as found only when its type and both boundaries match exactly,
    as the CoNLL-2003 ``conlleval`` script does (Tjong Kim Sang & De Meulder 2003).

    Args:
        true_tags: Gold IOB2 tags per sentence.
        predicted_tags: Predicted IOB2 tags per sentence, same lengths.

    Returns:
        precision, recall, f1 (micro over entities), macro_f1 (over entity types), accuracy
        (token level), per_type {TYPE: {precision, recall, f1, support}} and num_sentences.
    """
    if len(true_tags) != len(predicted_tags) or any(
        len(gold) != len(pred) for gold, pred in zip(true_tags, predicted_tags, strict=True)
    ):
        raise ValueError("true_tags and predicted_tags must have the same sentences and lengths")
    if not true_tags:
        raise ValueError("cannot score zero sentences")
    with warnings.catch_warnings():
        # With no entity at all seqeval averages an empty list (numpy "Mean of empty slice").
        warnings.simplefilter("ignore", RuntimeWarning)
        report = classification_report(
            true_tags,
            predicted_tags,
            mode="strict",
            scheme=IOB2,
            output_dict=True,
            zero_division=0,
        )
    averages = ("micro avg", "macro avg", "weighted avg")
    per_type = {
        name: {
            "precision": float(scores["precision"]),
            "recall": float(scores["recall"]),
            "f1": float(scores["f1-score"]),
            "support": int(scores["support"]),
        }
        for name, scores in report.items()
        if name not in averages
    }
    micro = report["micro avg"]
    return {
        "precision": float(micro["precision"]),
        "recall": float(micro["recall"]),
        "f1": float(micro["f1-score"]),
        # No entity type at all: nothing to average, scored 0 like every other undefined value.
        "macro_f1": _finite_or_none(report["macro avg"]["f1-score"]) or 0.0,
        "accuracy": float(token_accuracy_score(true_tags, predicted_tags)),
        "per_type": per_type,
        "num_sentences": len(true_tags),
    }


def expected_calibration_error(
    probabilities: np.ndarray, labels: np.ndarray, num_bins: int = 15
) -> float:
    """Top-label expected calibration error over equal-width confidence bins.

    ECE = sum_m |B_m| / n * |acc(B_m) - conf(B_m)| (Naeini et al. 2015, "Obtaining Well
    Calibrated Probabilities Using Bayesian Binning"; Guo et al. 2017, Eq. 3). 15 bins is the
    setting of Guo et al.

    Args:
        probabilities: Predicted class probabilities, shape (n, k).
        labels: True class indices, shape (n,).
        num_bins: Number of equal-width bins over [0, 1].

    Returns:
        The ECE in [0, 1]; 0 for a perfectly calibrated model.
    """
    return reliability_bins(probabilities, labels, num_bins).expected_calibration_error


def higher_is_better(metric_name: str) -> bool:
    """Whether a larger value of the metric is better; an ``eval_`` prefix is ignored."""
    return metric_name.removeprefix("eval_") not in _LOWER_IS_BETTER


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """The finite numbers of a metrics dict (drops per-class tables, matrices, NaNs and booleans):
    what the training loop tracks and what trade-off tables compare."""
    return {
        name: float(value)
        for name, value in metrics.items()
        if isinstance(value, (int, float))
        and not isinstance(value, bool)
        and not (isinstance(value, float) and math.isnan(value))
    }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None
