"""What per-example clipping did in a DP run: each example's gradient norm and whether the clip
cut it.

The clip norm is DP-SGD's main knob and the one a user cannot see: the noise is scaled to it,
so a clip above every gradient adds noise for nothing, and the share of examples clipped says
where the clip sits. Opacus computes the norms and drops them; the clipping paths hand them
here (`add`), and the run reports them on the console per evaluation (`since_last`) and in
metrics.json over the steps this process ran (`overall`, which names them: a resumed run's
norms start at its resume step, as they are not kept in checkpoints).

They are statistics of the private training rows, outside the DP guarantee (which covers the
trained weights): for whoever trains, never in the model card or the registry's privacy block.
"""

from __future__ import annotations

from typing import Any

import torch


class GradientNorms:
    """The per-example gradient norms of the steps this process ran, kept on their device
    until read (no host sync per step)."""

    def __init__(self) -> None:
        self._norms: list[torch.Tensor] = []
        self._clipped: list[torch.Tensor] = []
        self._read = 0
        self._first_step: int | None = None
        self._last_step: int | None = None

    def mark_step(self, step: int) -> None:
        """The optimizer step whose pieces are being added (1-based)."""
        if self._first_step is None:
            self._first_step = step
        self._last_step = step

    def add(self, norms: torch.Tensor, clipped: torch.Tensor) -> None:
        """One piece's norms (one per example) and whether each example's gradient was cut."""
        if norms.numel():
            self._norms.append(norms.detach().float().flatten())
            self._clipped.append(clipped.detach().flatten())

    def since_last(self) -> dict[str, Any] | None:
        """The summary of the examples added since the last call; None if none were."""
        start, self._read = self._read, len(self._norms)
        return _summary(self._norms[start:], self._clipped[start:])

    def overall(self) -> dict[str, Any] | None:
        """The summary of every example added, with the steps it covers; None if none were."""
        summary = _summary(self._norms, self._clipped)
        if summary is not None and self._first_step is not None:
            summary["steps"] = [self._first_step, self._last_step]
        return summary


def _summary(norms: list[torch.Tensor], clipped: list[torch.Tensor]) -> dict[str, Any] | None:
    if not norms:
        return None
    values = torch.cat(norms).cpu()
    cut = torch.cat(clipped).cpu()
    return {
        "clipped_fraction": round(float(cut.float().mean()), 4),
        "median": round(float(values.median()), 6),
        "p90": round(float(values.quantile(0.9)), 6),
        "examples": int(values.numel()),
    }


def describe(summary: dict[str, Any], clip: float, adaptive: bool = False) -> str:
    """One line for the console: the share clipped and where the norms lie against the clip,
    with a hint when a fixed clip cut nothing (an adaptive one is on its way down)."""
    text = (
        f"{summary['clipped_fraction']:.0%} of {summary['examples']} examples clipped "
        f"(gradient norm median {summary['median']:.3g}, 90th percentile {summary['p90']:.3g}, "
        f"clip {clip:g})"
    )
    if summary["clipped_fraction"] == 0 and not adaptive:
        text += (
            "; the clip cut nothing, so the noise (scaled to the clip) is larger than it needs "
            "to be: a privacy.max_grad_norm near these norms adds less"
        )
    return text
