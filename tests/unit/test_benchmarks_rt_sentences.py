"""The binary Rotten Tomatoes set: labels by sign, zero dropped. Nothing here downloads."""

from __future__ import annotations

import pytest

from benchmarks.rt_sentences import sign_label


@pytest.mark.parametrize(
    ("valence", "label"),
    [(-3.2, "negative"), (-0.01, "negative"), (0.0, None), (0.01, "positive"), (2.5, "positive")],
)
def test_rt_sentences_sign_label(valence: float, label: str | None) -> None:
    assert sign_label(valence) == label
