"""The BBC News slice the training tests use: articles in topic order, 12 per topic."""

from __future__ import annotations

from typing import Any

TOPICS = ("business", "sports", "tech")
PER_TOPIC = 12


def per_topic(features: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The first `count` articles of each topic."""
    return [
        f for start in range(0, len(features), PER_TOPIC) for f in features[start : start + count]
    ]
