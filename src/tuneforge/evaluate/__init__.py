"""Evaluation: task metrics, plots and reports of a fine-tuned model."""

from tuneforge.evaluate.metrics import (
    classification_metrics,
    expected_calibration_error,
    higher_is_better,
    multilabel_metrics,
    ner_metrics,
    regression_metrics,
    scalar_metrics,
    tune_thresholds,
)
from tuneforge.evaluate.plots import (
    plot_calibration,
    plot_confusion_matrix,
    plot_reliability,
    plot_training_curves,
)
from tuneforge.evaluate.report import metrics_table, per_class_table, write_metrics

__all__ = [
    "classification_metrics",
    "expected_calibration_error",
    "higher_is_better",
    "metrics_table",
    "multilabel_metrics",
    "ner_metrics",
    "per_class_table",
    "plot_calibration",
    "plot_confusion_matrix",
    "plot_reliability",
    "plot_training_curves",
    "regression_metrics",
    "scalar_metrics",
    "tune_thresholds",
    "write_metrics",
]
