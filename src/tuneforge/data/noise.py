"""Character edits of single words and the word spans of a text: shared by typo augmentation
(data/augment.py) and the character-level attacks (robustness/attacks.py).

The edits are DeepWordBug's four (Gao et al., 2018, "Black-box Generation of Adversarial Text
Sequences to Evade Deep Learning Classifiers"): swap two adjacent letters, substitute a letter
(here by a QWERTY neighbour, the commonest real typo), delete a letter, insert a letter; plus
homoglyphs (a Latin letter replaced by the Cyrillic letter drawn the same, Eger et al., 2019,
"Text Processing Like Humans Do: Visually Attacking and Shielding NLP Systems").
Only inner letters are edited when the word is long enough: readers still recognise a word
whose first and last letters stand (Rawlinson, 1976), so the meaning holds for a human.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

WORD = re.compile(r"[A-Za-z]+(?:'[A-Za-z]+)?")
"""What counts as a word: letters with an optional apostrophe part; numbers and punctuation
are left as they are."""

_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
KEYBOARD_NEIGHBOURS: dict[str, str] = {}
for _r, _row in enumerate(_ROWS):
    for _c, _key in enumerate(_row):
        _near = [
            _ROWS[r][c]
            for r in (_r - 1, _r, _r + 1)
            for c in (_c - 1, _c, _c + 1)
            if 0 <= r < len(_ROWS) and 0 <= c < len(_ROWS[r]) and (r, c) != (_r, _c)
        ]
        KEYBOARD_NEIGHBOURS[_key] = "".join(_near)
HOMOGLYPHS = {"a": "а", "c": "с", "e": "е", "i": "і", "o": "о", "p": "р", "x": "х", "y": "у"}
"""Latin letter -> the Cyrillic letter that looks the same (NFKC does not map one to the other)."""

Edit = Callable[[str, np.random.Generator], str]


def _inner(word: str, rng: np.random.Generator, width: int = 1) -> int | None:
    """A random position to edit (`width` letters from it), inner letters first."""
    low, high = (1, len(word) - width) if len(word) >= width + 2 else (0, len(word) - width + 1)
    if high <= low:
        return None
    return int(rng.integers(low, high))


def _same_case(new: str, old: str) -> str:
    return new.upper() if old.isupper() else new


def swap(word: str, rng: np.random.Generator) -> str:
    """Two adjacent letters swapped."""
    i = _inner(word, rng, width=2)
    if i is None or word[i] == word[i + 1]:
        return word
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def substitute(word: str, rng: np.random.Generator) -> str:
    """One letter replaced by a keyboard neighbour."""
    i = _inner(word, rng)
    if i is None or word[i].lower() not in KEYBOARD_NEIGHBOURS:
        return word
    near = KEYBOARD_NEIGHBOURS[word[i].lower()]
    return word[:i] + _same_case(near[int(rng.integers(len(near)))], word[i]) + word[i + 1 :]


def delete(word: str, rng: np.random.Generator) -> str:
    """One letter removed (words of one or two letters are kept)."""
    i = _inner(word, rng)
    if i is None or len(word) < 3:
        return word
    return word[:i] + word[i + 1 :]


def insert(word: str, rng: np.random.Generator) -> str:
    """A keyboard neighbour of a letter inserted next to it."""
    i = _inner(word, rng)
    if i is None or word[i].lower() not in KEYBOARD_NEIGHBOURS:
        return word
    near = KEYBOARD_NEIGHBOURS[word[i].lower()]
    return word[: i + 1] + near[int(rng.integers(len(near)))] + word[i + 1 :]


def homoglyph(word: str, rng: np.random.Generator) -> str:
    """One letter replaced by its Cyrillic look-alike."""
    positions = [i for i, letter in enumerate(word) if letter in HOMOGLYPHS]
    if not positions:
        return word
    i = positions[int(rng.integers(len(positions)))]
    return word[:i] + HOMOGLYPHS[word[i]] + word[i + 1 :]


TYPO_EDITS: tuple[Edit, ...] = (substitute, swap, delete, insert)
"""The edits a typing human makes: what typo augmentation and the typos attack draw from."""
CHARACTER_EDITS: tuple[Edit, ...] = (*TYPO_EDITS, homoglyph)


def word_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of every word of `text`."""
    return [match.span() for match in WORD.finditer(text)]


def replace_words(text: str, spans: list[tuple[int, int]], new: dict[int, str]) -> str:
    """`text` with word `i` (of `spans`) replaced by `new[i]`; everything else kept."""
    pieces, last = [], 0
    for index in sorted(new):
        start, end = spans[index]
        pieces += [text[last:start], new[index]]
        last = end
    return "".join([*pieces, text[last:]])


def words_to_change(count: int, fraction: float) -> int:
    """How many of `count` words a change of `fraction` of them may touch (at least one)."""
    return max(1, int(fraction * count)) if count else 0


def typo_noise(text: str, fraction: float, rng: np.random.Generator) -> str:
    """`text` with a random typo in `fraction` of its words (at least one)."""
    spans = word_spans(text)
    chosen = rng.choice(len(spans), size=words_to_change(len(spans), fraction), replace=False)
    new = {}
    for index in sorted(int(i) for i in chosen):
        word = text[slice(*spans[index])]
        new[index] = TYPO_EDITS[int(rng.integers(len(TYPO_EDITS)))](word, rng)
    return replace_words(text, spans, new)
