"""Black-box attacks on a text classifier: random character noise, DeepWordBug and WordNet
synonym substitution, each under a query budget and a cap on the share of words changed.

Written here rather than taken from TextAttack: TextAttack does not install next to
transformers 5 (its flair dependency pins an older transformers).

An attack sees the model only through an `Oracle`: every text it asks about costs one query
of the example's budget; a candidate that flips the label ends the attack (`AttackSucceeded`),
an empty budget ends it too (`BudgetExhausted`), and the oracle refuses a candidate that
changes more words than allowed. So the budget and the constraint hold by construction,
whatever an attack does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from tuneforge.data import noise
from tuneforge.data.noise import replace_words, word_spans, words_to_change

ProbabilitiesOf = Callable[[list[str]], np.ndarray]
"""Texts -> (n, classes) probabilities of the model under attack."""


class BudgetExhausted(Exception):
    """The example's query budget is spent."""


class AttackSucceeded(Exception):
    """A candidate flipped the label."""


@dataclass
class Oracle:
    """The model as one example's attack sees it: counts queries, keeps the best candidate."""

    probabilities_of: ProbabilitiesOf
    text: str
    label: int
    budget: int
    max_words_changed: int
    queries: int = 0
    best_text: str = ""
    best_words_changed: int = 0
    best_probability: float = 1.0
    """The true class's probability of the best candidate so far (lower is better)."""
    flipped_to: int | None = None

    def __post_init__(self) -> None:
        self.best_text = self.text

    def probe(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities of helper texts (e.g. a word left out) that are not candidates; the
        rows may be fewer than the texts when the budget runs out midway."""
        return self._query(list(texts))

    def try_candidates(self, texts: Sequence[str], words_changed: Sequence[int]) -> np.ndarray:
        """Probabilities of candidate texts; raises AttackSucceeded on the first that flips."""
        if any(count > self.max_words_changed for count in words_changed):
            raise ValueError("an attack changed more words than its constraint allows")
        rows = self._query(list(texts))
        for text, count, row in zip(texts, words_changed, rows, strict=False):
            predicted = int(row.argmax())
            if predicted != self.label:
                self.best_text, self.best_words_changed = text, count
                self.best_probability, self.flipped_to = float(row[self.label]), predicted
                raise AttackSucceeded
            if row[self.label] < self.best_probability:
                self.best_text, self.best_words_changed = text, count
                self.best_probability = float(row[self.label])
        return rows

    def _query(self, texts: list[str]) -> np.ndarray:
        remaining = self.budget - self.queries
        if remaining <= 0:
            raise BudgetExhausted
        texts = texts[:remaining]
        self.queries += len(texts)
        return self.probabilities_of(texts)


class Attack(Protocol):
    def __call__(
        self, text: str, clean: np.ndarray, oracle: Oracle, rng: np.random.Generator
    ) -> None:
        """Search for a label flip of `text` (clean probabilities `clean`) through `oracle`."""
        ...


ATTACKS: dict[str, Callable[[], Attack]] = {}
"""Attack name -> factory; versions are in `ATTACK_VERSIONS` (reports record them)."""
ATTACK_VERSIONS: dict[str, str] = {}


def register(name: str, version: str = "v1") -> Callable:
    def add(factory: Callable[[], Attack]) -> Callable[[], Attack]:
        ATTACKS[name] = factory
        ATTACK_VERSIONS[name] = f"{name}.{version}"
        return factory

    return add


# Random candidates are scored this many at a time: batching makes the forward passes cheaper,
# at the price of up to this many queries counted after a flip.
_RANDOM_BATCH = 8


@dataclass(frozen=True)
class RandomCharacterNoise:
    """Random character edits in the maximum share of words, redrawn until the label flips or
    the budget is spent (a black-box random search: the baseline every attack must beat)."""

    edits: tuple[noise.Edit, ...]

    def __call__(
        self, text: str, clean: np.ndarray, oracle: Oracle, rng: np.random.Generator
    ) -> None:
        spans = word_spans(text)
        if not spans:
            return
        count = min(words_to_change(len(spans), 1.0), oracle.max_words_changed)
        while True:
            candidates, changed = [], []
            for _ in range(_RANDOM_BATCH):
                chosen = rng.choice(len(spans), size=count, replace=False)
                new = {}
                for index in sorted(int(i) for i in chosen):
                    word = text[slice(*spans[index])]
                    edited = self.edits[int(rng.integers(len(self.edits)))](word, rng)
                    if edited != word:
                        new[index] = edited
                candidates.append(replace_words(text, spans, new))
                changed.append(len(new))
            oracle.try_candidates(candidates, changed)


@register("typos")
def typos() -> Attack:
    """Keyboard-neighbour substitutions, adjacent swaps, deletions and insertions, mixed."""
    return RandomCharacterNoise(noise.TYPO_EDITS)


@register("charswap")
def charswap() -> Attack:
    """Adjacent letters swapped."""
    return RandomCharacterNoise((noise.swap,))


@register("homoglyphs")
def homoglyphs() -> Attack:
    """Latin letters replaced by Cyrillic look-alikes."""
    return RandomCharacterNoise((noise.homoglyph,))


def leave_one_out_ranking(
    text: str,
    spans: list[tuple[int, int]],
    candidates: list[int],
    clean: np.ndarray,
    label: int,
    oracle: Oracle,
) -> list[int]:
    """`candidates` (word indices) by importance: the drop of the true class's probability when
    the word is removed (Gao et al., 2018's leave-one-out score; Jin et al., 2020, eq. 2),
    most important first. Words the budget left unscored come last, in text order."""
    texts = [replace_words(text, spans, {index: ""}) for index in candidates]
    rows = oracle.probe(texts) if texts else np.zeros((0, len(clean)))
    scores = [clean[label] - row[label] for row in rows]
    scores += [-np.inf] * (len(candidates) - len(scores))
    order = sorted(range(len(candidates)), key=lambda i: (-scores[i], i))
    return [candidates[i] for i in order]


def greedy_word_search(
    text: str,
    clean: np.ndarray,
    oracle: Oracle,
    options: Callable[[str], list[str]],
    candidates: list[int] | None = None,
) -> None:
    """Rank words by importance, then for each in turn keep the replacement from `options(word)`
    that lowers the true class's probability most, until the label flips, the word cap is
    reached or the budget is spent."""
    spans = word_spans(text)
    candidates = list(range(len(spans))) if candidates is None else candidates
    order = leave_one_out_ranking(text, spans, candidates, clean, oracle.label, oracle)
    chosen: dict[int, str] = {}
    current = clean[oracle.label]
    for index in order:
        if len(chosen) >= oracle.max_words_changed:
            return
        word = text[slice(*spans[index])]
        replacements = [option for option in dict.fromkeys(options(word)) if option != word]
        if not replacements:
            continue
        texts = [replace_words(text, spans, {**chosen, index: r}) for r in replacements]
        rows = oracle.try_candidates(texts, [len(chosen) + 1] * len(texts))
        best = int(np.argmin(rows[:, oracle.label])) if len(rows) else None
        if best is not None and rows[best, oracle.label] < current:
            chosen[index], current = replacements[best], rows[best, oracle.label]


@dataclass(frozen=True)
class DeepWordBug:
    """Gao et al. (2018): the most important words first (leave-one-out), each given the one of
    its four character edits that hurts the true class most, until the label flips."""

    rng_edits: tuple[noise.Edit, ...] = (noise.swap, noise.substitute, noise.delete, noise.insert)

    def __call__(
        self, text: str, clean: np.ndarray, oracle: Oracle, rng: np.random.Generator
    ) -> None:
        greedy_word_search(
            text, clean, oracle, lambda word: [edit(word, rng) for edit in self.rng_edits]
        )


@register("deepwordbug")
def deepwordbug() -> Attack:
    return DeepWordBug()


@dataclass
class SynonymSubstitution:
    """Words replaced by WordNet synonyms of their most frequent sense (same part of speech, no
    antonyms), the most important words first: a greedy search like Jin et al. (2020)'s
    TextFooler with WordNet's synsets as the similarity constraint instead of embeddings."""

    wordnet: object = field(repr=False)

    def __call__(
        self, text: str, clean: np.ndarray, oracle: Oracle, rng: np.random.Generator
    ) -> None:
        spans = word_spans(text)
        words = [text[slice(*span)] for span in spans]
        with_synonyms = [i for i, word in enumerate(words) if self._synonyms(word)]
        greedy_word_search(text, clean, oracle, self._synonyms, with_synonyms)

    def _synonyms(self, word: str) -> list[str]:
        found = self.wordnet.synonyms(word)  # type: ignore[attr-defined]
        if word[:1].isupper():
            found = [synonym.capitalize() for synonym in found]
        return found


@register("synonyms")
def synonyms() -> Attack:
    from tuneforge.data.wordnet import WordNet

    return SynonymSubstitution(WordNet.load())


DEFAULT_ATTACKS = ("typos", "charswap", "homoglyphs", "deepwordbug", "synonyms")
