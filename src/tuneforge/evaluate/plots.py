"""PNG figures of an evaluation: confusion matrix, training curves and reliability diagram.

Figures are built on matplotlib's object API with an explicit Agg canvas, never through
``pyplot``: no global figure state, no GUI backend, and nothing kept alive after saving (the
pattern of matplotlib's "Embedding in a web application server" example).
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuneforge.evaluate._calibration import ReliabilityBins, reliability_bins

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 120
"""Resolution of every PNG written here."""
PANEL_INCHES = (5.0, 4.0)
"""Width and height of one training-curve panel."""
# Beyond this many classes the per-cell numbers overlap and only the colours stay readable.
_MAX_ANNOTATED_CLASSES = 30
# Evaluation metrics drawn as curves: unit-free scores in [-1, 1] that share one axis. Errors in
# the target's unit (mse, rmse, mae) would squash them, precision and recall are summed up by
# their F1, and counters (num_examples) are flat lines.
_PLOTTED_METRICS = (
    "accuracy",
    "f1",
    "macro_f1",
    "micro_f1",
    "weighted_f1",
    "samples_f1",
    "subset_accuracy",
    "expected_calibration_error",
    "r2",
    "spearman",
    "pearson",
)


def plot_confusion_matrix(confusion: dict[str, Any], path: Path, normalise: bool = True) -> Path:
    """Draw a confusion matrix as a heat map with the counts written in the cells.

    Args:
        confusion: ``{"labels": [...], "matrix": [[...]]}``, rows true and columns predicted, as
            in the ``confusion_matrix`` entry of :func:`classification_metrics`.
        path: PNG file to write; missing parent folders are created.
        normalise: Colour each row by its share of the true class (recall on the diagonal) and
            add that share under the count; False colours by raw counts.

    Returns:
        ``path``.
    """
    names = list(confusion["labels"])
    counts = np.asarray(confusion["matrix"], dtype=np.float64)
    num_classes = len(names)
    if counts.shape != (num_classes, num_classes):
        raise ValueError(f"expected a {num_classes}x{num_classes} matrix, got {counts.shape}")
    if normalise:
        totals = counts.sum(axis=1, keepdims=True)
        shown = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        colour_max = 1.0
    else:
        shown = counts
        colour_max = max(float(counts.max(initial=0.0)), 1.0)

    side = min(max(5.0, 2.5 + 0.55 * num_classes), 18.0)
    figure = _new_figure(side, side)
    axes = figure.add_subplot()
    image = axes.imshow(shown, cmap="Blues", vmin=0.0, vmax=colour_max)
    figure.colorbar(
        image, ax=axes, shrink=0.8, label="share of true class" if normalise else "count"
    )
    axes.set_xticks(
        range(num_classes), labels=names, rotation=45, ha="right", rotation_mode="anchor"
    )
    axes.set_yticks(range(num_classes), labels=names)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title("Confusion matrix" + (" (row-normalised)" if normalise else ""))
    if num_classes <= _MAX_ANNOTATED_CLASSES:
        font_size = max(6, 11 - num_classes // 4)
        for row in range(num_classes):
            for column in range(num_classes):
                text = f"{int(counts[row, column])}"
                if normalise:
                    text += f"\n{shown[row, column]:.0%}"
                # White on the darker half of the colour map, black on the lighter half.
                dark = shown[row, column] > colour_max / 2
                axes.text(
                    column,
                    row,
                    text,
                    ha="center",
                    va="center",
                    fontsize=font_size,
                    color="white" if dark else "black",
                )
    return _save(figure, path)


def plot_training_curves(history: Sequence[dict[str, Any]], path: Path) -> Path:
    """Draw losses, the learning-rate schedule and evaluation metrics against the optimizer step.

    One panel per kind of series that the history holds, left to right: loss (train and eval),
    learning rate, headline evaluation scores (F1s, accuracy, ECE, r2, correlations; not
    precision, recall or unit-bearing errors); each panel is ``PANEL_INCHES``. Evaluation
    points carry markers, so a single evaluation still shows.

    Args:
        history: Log rows ``{"step", "epoch", "train_loss"?, "learning_rate"?}`` and evaluation
            rows ``{"step", "epoch", "eval_loss", "eval_<metric>"...}``.
        path: PNG file to write; missing parent folders are created.

    Returns:
        ``path``; a history without any of those series gives one empty, titled panel.
    """
    metric_keys = _eval_metric_keys(history)
    panels: list[tuple[str, list[str]]] = []
    loss_keys = [key for key in ("train_loss", "eval_loss") if _series(history, key)[0]]
    if loss_keys:
        panels.append(("loss", loss_keys))
    if _series(history, "learning_rate")[0]:
        panels.append(("learning rate", ["learning_rate"]))
    if metric_keys:
        panels.append(("evaluation metrics", metric_keys))
    if not panels:
        # A run too short to log anything still gets its figure: a missing plot must not fail
        # a finished training run.
        panels.append(("nothing logged yet", []))

    width, height = PANEL_INCHES
    figure = _new_figure(width * len(panels), height)
    for axes, (title, keys) in zip(
        figure.subplots(1, len(panels), squeeze=False)[0], panels, strict=True
    ):
        for key in keys:
            steps, values = _series(history, key)
            evaluated = key.startswith("eval_")
            axes.plot(
                steps,
                values,
                marker="o" if evaluated or len(steps) == 1 else None,
                markersize=4,
                label=key.removeprefix("eval_") if title == "evaluation metrics" else key,
            )
        axes.set_title(title)
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        if title == "learning rate":
            axes.ticklabel_format(axis="y", style="sci", scilimits=(0, 0))
        if keys and (len(keys) > 1 or title != "learning rate"):
            axes.legend(fontsize="small")
    return _save(figure, path)


def plot_calibration(
    probabilities: np.ndarray, labels: np.ndarray, path: Path, num_bins: int = 15
) -> Path:
    """Draw a reliability diagram of top-label confidence with a histogram of confidences.

    The layout follows Guo et al. 2017, "On Calibration of Modern Neural Networks" (Fig. 1):
    accuracy per equal-width confidence bin, the gap to the bin's mean confidence, the diagonal of
    perfect calibration, and the ECE in the title.

    Args:
        probabilities: Predicted class probabilities, shape (n, k).
        labels: True class indices, shape (n,).
        path: PNG file to write; missing parent folders are created.
        num_bins: Number of equal-width confidence bins.

    Returns:
        ``path``.
    """
    return plot_reliability(reliability_bins(probabilities, labels, num_bins), path)


def plot_reliability(bins: ReliabilityBins, path: Path) -> Path:
    """The reliability diagram of :func:`plot_calibration` from bins already computed (e.g. the
    ``reliability`` entry of a run's classification metrics, via ReliabilityBins.from_json)."""
    num_bins = len(bins.count)
    ece = bins.expected_calibration_error
    centres = (bins.edges[:-1] + bins.edges[1:]) / 2
    bar_width = 1.0 / num_bins
    occupied = bins.count > 0

    figure = _new_figure(5.0, 6.0)
    reliability, histogram = figure.subplots(
        2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    reliability.bar(
        centres[occupied],
        bins.accuracy[occupied],
        width=bar_width,
        edgecolor="black",
        color="tab:blue",
        label="accuracy",
    )
    reliability.bar(
        centres[occupied],
        bins.mean_confidence[occupied] - bins.accuracy[occupied],
        bottom=bins.accuracy[occupied],
        width=bar_width,
        edgecolor="tab:red",
        color="tab:red",
        alpha=0.3,
        hatch="//",
        label="gap to confidence",
    )
    reliability.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    reliability.set_xlim(0, 1)
    reliability.set_ylim(0, 1)
    reliability.set_ylabel("accuracy")
    reliability.set_title(f"Reliability diagram (ECE {ece:.3f}, {num_bins} bins)")
    reliability.legend(loc="upper left", fontsize="small")
    histogram.bar(centres, bins.count, width=bar_width, edgecolor="black", color="tab:grey")
    histogram.set_xlabel("confidence (top-label probability)")
    histogram.set_ylabel("examples")
    return _save(figure, path)


def _eval_metric_keys(history: Sequence[dict[str, Any]]) -> list[str]:
    """``eval_<metric>`` keys of the plotted metrics with a number in some row."""
    return [
        f"eval_{name}"
        for name in _PLOTTED_METRICS
        if any(_is_number(row.get(f"eval_{name}")) for row in history)
    ]


def _series(history: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """Steps and values of the rows where ``key`` holds a number."""
    points = [(row["step"], row[key]) for row in history if _is_number(row.get(key))]
    return [float(step) for step, _ in points], [float(value) for _, value in points]


def _is_number(value: object) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool) and np.isfinite(value)


def _new_figure(width_inches: float, height_inches: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_inches, height_inches), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure: Figure, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=DPI)
    return path
