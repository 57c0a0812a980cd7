"""Training-data augmentation: EDA (Wei & Zou, 2019, "EDA: Easy Data Augmentation Techniques for
Boosting Performance on Text Classification Tasks") and typo noise.

Applied to the training split only, after the split: an augmented copy of a training row must
never be scored as validation or test data (that would leak the row into its own evaluation).
Copies keep their row's label and are marked `augmented=True`, with the source of their row
plus "#aug<k>", so the data report counts them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from tuneforge.config import AugmentationConfig
from tuneforge.data import noise
from tuneforge.data.records import Record
from tuneforge.data.wordnet import STOPWORDS, WordNet


def augment_training(
    train: list[Record], settings: AugmentationConfig, wordnet: WordNet | None = None
) -> list[Record]:
    """`train` followed by `copies_per_row` augmented copies of a seeded `ratio` of its rows.

    Raises:
        DataError: EDA without the WordNet files (the message names the apt package).
    """
    if settings.method == "none" or not train:
        return list(train)
    rng = np.random.default_rng(settings.seed)
    augment: Callable[[str, np.random.Generator], str]
    if settings.method == "eda":
        wordnet = wordnet or WordNet.load()
        augment = _eda(wordnet, settings.alpha)
    else:
        augment = lambda text, rng: noise.typo_noise(text, settings.alpha, rng)  # noqa: E731
    chosen = rng.random(len(train)) < settings.ratio
    copies = []
    for record, keep in zip(train, chosen, strict=True):
        if not keep:
            continue
        for copy in range(settings.copies_per_row):
            text = augment(record.text, rng)
            if text.strip() and text != record.text:
                copies.append(
                    replace(
                        record, text=text, source=f"{record.source}#aug{copy + 1}", augmented=True
                    )
                )
    return [*train, *copies]


def _eda(wordnet: WordNet, alpha: float) -> Callable[[str, np.random.Generator], str]:
    """One of EDA's four operations per copy, drawn at random (the paper's n_aug / 4 each)."""
    operations = (
        lambda words, rng: synonym_replacement(words, alpha, rng, wordnet),
        lambda words, rng: random_insertion(words, alpha, rng, wordnet),
        lambda words, rng: random_swap(words, alpha, rng),
        lambda words, rng: random_deletion(words, alpha, rng),
    )

    def augment(text: str, rng: np.random.Generator) -> str:
        words = text.split()
        if not words:
            return text
        return " ".join(operations[int(rng.integers(len(operations)))](words, rng))

    return augment


def _changes(words: list[str], alpha: float) -> int:
    # Wei & Zou: n = alpha * l words changed, at least one.
    return max(1, int(alpha * len(words)))


def _synonyms(word: str, wordnet: WordNet) -> list[str]:
    core = word.strip(".,;:!?\"'()[]")
    if not core or core.lower() in STOPWORDS:
        return []
    found = wordnet.synonyms(core)
    if core[:1].isupper():
        found = [synonym.capitalize() for synonym in found]
    return [word.replace(core, synonym, 1) for synonym in found]


def synonym_replacement(
    words: list[str], alpha: float, rng: np.random.Generator, wordnet: WordNet
) -> list[str]:
    """SR: n random non-stopwords replaced by one of their synonyms."""
    words = list(words)
    candidates = [i for i, word in enumerate(words) if _synonyms(word, wordnet)]
    rng.shuffle(candidates)
    for index in candidates[: _changes(words, alpha)]:
        options = _synonyms(words[index], wordnet)
        words[index] = options[int(rng.integers(len(options)))]
    return words


def random_insertion(
    words: list[str], alpha: float, rng: np.random.Generator, wordnet: WordNet
) -> list[str]:
    """RI: n times, a synonym of a random word inserted at a random position."""
    words = list(words)
    candidates = [word for word in words if _synonyms(word, wordnet)]
    if not candidates:
        return words
    for _ in range(_changes(words, alpha)):
        options = _synonyms(candidates[int(rng.integers(len(candidates)))], wordnet)
        words.insert(int(rng.integers(len(words) + 1)), options[int(rng.integers(len(options)))])
    return words


def random_swap(words: list[str], alpha: float, rng: np.random.Generator) -> list[str]:
    """RS: n times, two random words swap places."""
    words = list(words)
    if len(words) < 2:
        return words
    for _ in range(_changes(words, alpha)):
        i, j = rng.choice(len(words), size=2, replace=False)
        words[i], words[j] = words[j], words[i]
    return words


def random_deletion(words: list[str], alpha: float, rng: np.random.Generator) -> list[str]:
    """RD: each word removed with probability alpha (one random word kept if all would go)."""
    kept = [word for word in words if rng.random() >= alpha]
    return kept or [words[int(rng.integers(len(words)))]]
