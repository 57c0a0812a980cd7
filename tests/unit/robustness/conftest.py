"""Fixtures of the robustness tests: a toy sentiment model that needs no weights, and WordNet."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from tuneforge.data.wordnet import WORDNET_DIR, WordNet

POSITIVE = {"good", "great", "fun", "film", "brilliant"}  # "film", not its synonym "movie"


def toy_probabilities(texts: list[str]) -> np.ndarray:
    """P(positive) rises with the share of exactly-spelled positive words: a typo or a synonym
    outside POSITIVE lowers it, like a model that never saw the misspelling."""
    rows = []
    for text in texts:
        words = re.findall(r"[A-Za-z]+", text.lower())
        share = sum(word in POSITIVE for word in words) / max(len(words), 1)
        positive = min(0.2 + share, 0.99)
        rows.append([1 - positive, positive])
    return np.array(rows)


@pytest.fixture(scope="session")
def wordnet() -> WordNet:
    if not (Path(WORDNET_DIR) / "data.noun").is_file():
        pytest.skip("WordNet files absent: apt-get install wordnet-base (CI installs them)")
    return WordNet.load()
