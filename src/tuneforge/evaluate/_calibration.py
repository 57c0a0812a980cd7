"""Top-label confidence binning: the one computation behind the ECE and the reliability diagram."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin statistics of top-label confidence; empty bins hold 0.0 and count 0.

    Attributes:
        edges: ``num_bins + 1`` equal-width bin edges over [0, 1].
        mean_confidence: Mean top-label probability of the examples in each bin.
        accuracy: Share of the examples in each bin whose arg-max class is the true label.
        count: Number of examples in each bin.
    """

    edges: np.ndarray
    mean_confidence: np.ndarray
    accuracy: np.ndarray
    count: np.ndarray

    def to_json(self) -> dict[str, list[float]]:
        """Lists, for metrics.json: the reliability diagram can be redrawn from them."""
        return {
            "edges": self.edges.tolist(),
            "mean_confidence": self.mean_confidence.tolist(),
            "accuracy": self.accuracy.tolist(),
            "count": self.count.astype(int).tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, list[float]]) -> ReliabilityBins:
        return cls(
            np.asarray(data["edges"], dtype=np.float64),
            np.asarray(data["mean_confidence"], dtype=np.float64),
            np.asarray(data["accuracy"], dtype=np.float64),
            np.asarray(data["count"], dtype=np.int64),
        )

    @property
    def expected_calibration_error(self) -> float:
        total = self.count.sum()
        if total == 0:
            return 0.0
        gaps = np.abs(self.accuracy - self.mean_confidence) * self.count
        return float(gaps.sum() / total)


def reliability_bins(
    probabilities: np.ndarray, labels: np.ndarray, num_bins: int
) -> ReliabilityBins:
    """Bin examples by top-label confidence into ``num_bins`` equal-width bins.

    Bins are right-closed, ``((m-1)/M, m/M]``, as in Guo et al. 2017, "On Calibration of Modern
    Neural Networks" (Sec. 2), so a confidence of exactly 1.0 falls in the last bin.

    Args:
        probabilities: Class probabilities, shape (n, k); rows sum to one.
        labels: True class indices, shape (n,).
        num_bins: Number of bins M (at least 1).

    Returns:
        The per-bin mean confidence, accuracy and count.

    Raises:
        ValueError: On mismatched shapes, no examples or ``num_bins < 1``.
    """
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(labels)
    if probabilities.ndim != 2 or labels.shape != (probabilities.shape[0],):
        raise ValueError(
            f"expected probabilities (n, k) and labels (n,), got {probabilities.shape} "
            f"and {labels.shape}"
        )
    if probabilities.shape[0] == 0:
        raise ValueError("cannot bin confidences of zero examples")
    if num_bins < 1:
        raise ValueError(f"num_bins must be at least 1, got {num_bins}")

    confidence = probabilities.max(axis=1)
    correct = (probabilities.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    # searchsorted(side="left") on the inner edges gives i with edges[i] < c <= edges[i+1]: the
    # right-closed bins of Guo et al.; sklearn.calibration.calibration_curve bins the same way.
    bin_index = np.searchsorted(edges[1:-1], confidence, side="left")
    count = np.bincount(bin_index, minlength=num_bins)
    confidence_sum = np.bincount(bin_index, weights=confidence, minlength=num_bins)
    correct_sum = np.bincount(bin_index, weights=correct, minlength=num_bins)
    occupied = count > 0
    mean_confidence = np.zeros(num_bins)
    accuracy = np.zeros(num_bins)
    mean_confidence[occupied] = confidence_sum[occupied] / count[occupied]
    accuracy[occupied] = correct_sum[occupied] / count[occupied]
    return ReliabilityBins(edges, mean_confidence, accuracy, count)
