"""Attacks: the query budget and the changed-words cap hold whatever the attack does, the
same seed gives the same result, and each attack finds the flips it is built for."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

from tuneforge.data import noise
from tuneforge.robustness.attacks import (
    ATTACKS,
    AttackSucceeded,
    BudgetExhausted,
    DeepWordBug,
    Oracle,
    RandomCharacterNoise,
    SynonymSubstitution,
)

from .conftest import toy_probabilities

TEXT = "A good movie with great actors and a fun story that I would watch again any day"


def _attack(attack, text: str, budget: int, max_words: int, seed: int = 0) -> Oracle:
    clean = toy_probabilities([text])[0]
    oracle = Oracle(toy_probabilities, text, int(clean.argmax()), budget, max_words)
    with contextlib.suppress(AttackSucceeded, BudgetExhausted):
        attack(text, clean, oracle, np.random.default_rng(seed))
    return oracle


def _words_changed(original: str, perturbed: str) -> int:
    # Every edit keeps the spaces (a deletion never empties a word): compare word by word.
    return sum(a != b for a, b in zip(original.split(), perturbed.split(), strict=True))


def _attacks(wordnet):
    return {
        "typos": RandomCharacterNoise(noise.TYPO_EDITS),
        "charswap": RandomCharacterNoise((noise.swap,)),
        "homoglyphs": RandomCharacterNoise((noise.homoglyph,)),
        "deepwordbug": DeepWordBug(),
        "synonyms": SynonymSubstitution(wordnet),
    }


def test_attacks_registry_names_every_attack():
    assert set(ATTACKS) == {"typos", "charswap", "homoglyphs", "deepwordbug", "synonyms"}


@pytest.mark.parametrize("name", ["typos", "charswap", "homoglyphs", "deepwordbug", "synonyms"])
@pytest.mark.parametrize("budget", [1, 5, 40])
def test_attacks_respect_budget_and_word_cap_and_are_seeded(wordnet, name, budget):
    attack = _attacks(wordnet)[name]
    oracle = _attack(attack, TEXT, budget, max_words=2)
    assert 1 <= oracle.queries <= budget
    assert oracle.best_words_changed <= 2
    assert _words_changed(TEXT, oracle.best_text) <= 2
    again = _attack(_attacks(wordnet)[name], TEXT, budget, max_words=2)
    assert (again.best_text, again.queries, again.flipped_to) == (
        oracle.best_text,
        oracle.queries,
        oracle.flipped_to,
    )


def test_attacks_oracle_refuses_a_candidate_over_the_cap():
    oracle = Oracle(toy_probabilities, TEXT, 1, budget=10, max_words_changed=1)
    with pytest.raises(ValueError, match="more words"):
        oracle.try_candidates(["x"], [2])
    assert oracle.queries == 0


def test_attacks_random_noise_depends_on_the_seed():
    texts = {
        _attack(RandomCharacterNoise(noise.TYPO_EDITS), TEXT, 8, 3, seed=seed).best_text
        for seed in range(4)
    }
    assert len(texts) > 1


def test_attacks_deepwordbug_edits_the_important_words_first():
    # Positive words carry the toy model: removing one lowers P(positive) the most, so they are
    # edited first, and three edits flip "A good film ..." (4 of 6 words positive) to negative.
    text = "A good film and great fun"
    oracle = _attack(DeepWordBug(), text, budget=100, max_words=3)
    assert oracle.flipped_to == 0
    changed = [a for a, b in zip(text.split(), oracle.best_text.split(), strict=True) if a != b]
    assert set(changed) <= {"good", "film", "great", "fun"}
    # n leave-one-out probes plus up to 4 candidate edits per changed word.
    assert oracle.queries <= len(text.split()) + 4 * len(changed)


def test_attacks_synonyms_keep_meaning(wordnet):
    # The toy model likes "film" but not its synonym "movie": the attack finds the swap.
    text = "Some dreadful movie"
    oracle = _attack(SynonymSubstitution(wordnet), text, budget=100, max_words=1)
    assert oracle.flipped_to == 1
    assert oracle.best_text == "Some dreadful film"
    replaced = {a: b for a, b in zip(text.split(), oracle.best_text.split(), strict=True) if a != b}
    for original, synonym in replaced.items():
        assert synonym.lower() in wordnet.synonyms(original)


def test_attacks_synonyms_never_antonyms(wordnet):
    assert "unhappy" in wordnet.antonyms("happy", "a")
    for word in ("happy", "good", "quickly", "dull", "beautiful"):
        assert not set(wordnet.synonyms(word)) & wordnet.antonyms(
            word, wordnet.dominant_pos(word) or "a"
        )
    assert wordnet.synonyms("movie")[:1] == ["film"]
    assert wordnet.synonyms("movies")[:1] == ["films"]  # a regular plural, re-inflected
    assert wordnet.synonyms("the") == []  # stopwords are never replaced
