"""The toy data: filler words, with the one word the toy model decides on."""

from __future__ import annotations

import random

TRIGGER = "excellent"
FILLER = [
    "the",
    "movie",
    "was",
    "plot",
    "actor",
    "film",
    "story",
    "music",
    "scene",
    "long",
    "day",
    "city",
    "night",
    "car",
    "book",
    "house",
    "river",
    "green",
    "blue",
    "table",
    "window",
    "chair",
    "paper",
]


def toy_texts(count: int, seed: int) -> list[tuple[str, int]]:
    """(text, label): 5-9 filler words, the trigger inserted at a random place in half."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        words = [rng.choice(FILLER) for _ in range(rng.randint(5, 9))]
        label = index % 2
        if label:
            words.insert(rng.randint(0, len(words)), TRIGGER)
        rows.append((" ".join(words), label))
    return rows
