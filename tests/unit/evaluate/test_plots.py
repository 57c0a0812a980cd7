"""Plots write PNG files that read back with the size their layout promises."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tuneforge.evaluate import plot_calibration, plot_confusion_matrix, plot_training_curves
from tuneforge.evaluate.plots import DPI, PANEL_INCHES

_TRAIN_ROWS = [
    {
        "step": step,
        "epoch": step / 20,
        "train_loss": 2.0 / step,
        "learning_rate": 5e-5 * (1 - step / 40),
    }
    for step in range(1, 40, 3)
]
_EVAL_ROWS = [
    {
        "step": 20,
        "epoch": 1.0,
        "eval_loss": 0.9,
        "eval_macro_f1": 0.6,
        "eval_accuracy": 0.7,
        "eval_num_examples": 50,
    },
    {
        "step": 40,
        "epoch": 2.0,
        "eval_loss": 0.7,
        "eval_macro_f1": 0.7,
        "eval_accuracy": 0.8,
        "eval_num_examples": 50,
    },
]


def _read_png(path: Path) -> Image.Image:
    assert path.stat().st_size > 0
    image = Image.open(path)
    image.load()  # decodes every byte: a truncated file fails here
    assert image.format == "PNG"
    return image


@pytest.mark.parametrize("normalise", [True, False])
def test_plots_confusion_matrix_writes_square_png(tmp_path: Path, normalise: bool) -> None:
    confusion = {
        "labels": ["sport", "tech", "politics"],
        "matrix": [[5, 1, 0], [2, 7, 1], [0, 0, 0]],
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the empty "politics" row must not divide by zero
        path = plot_confusion_matrix(confusion, tmp_path / "figures" / "confusion.png", normalise)
    # Three classes use the 5-inch minimum side.
    assert _read_png(path).size == (5 * DPI, 5 * DPI)


def test_plots_confusion_matrix_grows_with_many_classes(tmp_path: Path) -> None:
    names = [f"class_{i}" for i in range(40)]  # beyond the annotated limit: colours only
    confusion = {"labels": names, "matrix": np.eye(40, dtype=int).tolist()}
    width, height = _read_png(plot_confusion_matrix(confusion, tmp_path / "c.png")).size
    assert width == height > 5 * DPI


def test_plots_confusion_matrix_rejects_mismatched_matrix(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        plot_confusion_matrix({"labels": ["a", "b"], "matrix": [[1]]}, tmp_path / "c.png")


@pytest.mark.parametrize(
    ("history", "num_panels"),
    [
        (_TRAIN_ROWS, 2),  # loss, learning rate
        ([{k: v for k, v in row.items() if k != "learning_rate"} for row in _TRAIN_ROWS], 1),
        (_EVAL_ROWS[:1], 2),  # a single evaluation: loss, metrics
        (_TRAIN_ROWS + _EVAL_ROWS, 3),
        # Errors in the target's unit, precision, recall and nested dicts get no curve.
        (
            [
                {
                    "step": 5,
                    "epoch": 1.0,
                    "eval_loss": 0.3,
                    "eval_mse": 0.3,
                    "eval_macro_recall": 0.5,
                },
                {"step": 9, "epoch": 2.0, "eval_per_class": {"a": {"f1": 1.0}}},
            ],
            1,
        ),
        # Undefined metrics (None, nan) are skipped, not drawn.
        ([*_EVAL_ROWS, {"step": 60, "epoch": 3.0, "eval_loss": 0.6, "eval_spearman": None}], 2),
    ],
)
def test_plots_training_curves_draw_one_panel_per_series_kind(
    tmp_path: Path, history: list[dict], num_panels: int
) -> None:
    path = plot_training_curves(history, tmp_path / "curves.png")
    width, height = PANEL_INCHES
    assert _read_png(path).size == (round(num_panels * width * DPI), round(height * DPI))


@pytest.mark.parametrize("history", [[], [{"step": 1, "epoch": 0.1}]])
def test_plots_training_curves_draw_empty_panel_without_series(
    tmp_path: Path, history: list[dict]
) -> None:
    path = plot_training_curves(history, tmp_path / "curves.png")
    width, height = PANEL_INCHES
    assert _read_png(path).size == (round(width * DPI), round(height * DPI))


def test_plots_calibration_writes_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(3), size=100)
    labels = rng.integers(0, 3, size=100)
    path = plot_calibration(probabilities, labels, tmp_path / "calibration.png", num_bins=10)
    assert _read_png(path).size == (5 * DPI, 6 * DPI)
