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


NER_TRIGGER = "in"
NER_TAGS = ["O", "B-loc", "I-loc"]


def toy_ner_sentences(count: int, seed: int) -> list[tuple[list[str], list[str]]]:
    """(words, tags): 5-9 filler words; in half, "in" inserted before one of them, which is then
    a B-loc. The entity word itself carries no information (fillers appear everywhere): only the
    word before it decides."""
    rng = random.Random(seed)
    rows = []
    for index in range(count):
        words = [rng.choice(FILLER) for _ in range(rng.randint(5, 9))]
        tags = ["O"] * len(words)
        if index % 2:
            at = rng.randint(0, len(words) - 1)
            words.insert(at, NER_TRIGGER)
            tags.insert(at, "O")
            tags[at + 1] = "B-loc"
        rows.append((words, tags))
    return rows
