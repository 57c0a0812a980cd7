"""Words of a text as the model's fast tokenizer sees them, and sub-token scores summed per word.

Every method reports word scores so that IG and SHAP (per sub-token) and LIME (per word) can be
compared, ranked and erased the same way (explain/faithfulness.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class EncodedText:
    """A text cut to what the model reads, its token ids and the words they belong to."""

    text: str
    """The text up to the end of its last kept word (truncated like the model's input)."""
    input_ids: list[int]
    """Token ids with the special tokens ([CLS] ... [SEP])."""
    word_of_token: list[int | None]
    """The word index of each token; None for special tokens."""
    word_spans: list[tuple[int, int]]
    """Character (start, end) of each word in `text`."""

    @property
    def words(self) -> list[str]:
        return [self.text[start:end] for start, end in self.word_spans]

    def ids_without(self, removed_words: Sequence[int]) -> list[int]:
        """The token ids with every sub-token of `removed_words` deleted (special tokens kept)."""
        removed = set(removed_words)
        return [
            token
            for token, word in zip(self.input_ids, self.word_of_token, strict=True)
            if word is None or word not in removed
        ]

    def ids_masked(self, removed_words: Sequence[int], mask_token_id: int) -> list[int]:
        """The token ids with every sub-token of `removed_words` replaced by `mask_token_id`:
        the other tokens keep their positions (NER spans are scored where they stand)."""
        removed = set(removed_words)
        return [
            mask_token_id if word is not None and word in removed else token
            for token, word in zip(self.input_ids, self.word_of_token, strict=True)
        ]


def encode_words(tokenizer: Any, text: str, max_seq_length: int) -> EncodedText:
    """Tokenise `text` as the model reads it (truncated) and group the tokens into words.

    Words are the fast tokenizer's pre-tokenized words (its word_ids): for BERT's WordPiece,
    runs of letters/digits and single punctuation marks.
    """
    encoding = tokenizer(
        text, truncation=True, max_length=max_seq_length, return_offsets_mapping=True
    )
    word_ids = encoding.word_ids()
    offsets = encoding["offset_mapping"]
    # Word ids restart at 0 and stay dense after truncation; specials have None.
    spans: dict[int, list[int]] = {}
    for word, (start, end) in zip(word_ids, offsets, strict=True):
        if word is None:
            continue
        span = spans.setdefault(word, [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    return _grouped(text, encoding["input_ids"], word_ids, spans)


def encode_whitespace_words(tokenizer: Any, text: str, max_seq_length: int) -> EncodedText:
    """Tokenise `text` the way NER runs read it: split at whitespace, then each word on its own
    (is_split_into_words, as tasks/ner.py encodes), so words are the ones the model tags."""
    matches = list(re.finditer(r"\S+", text))
    encoding = tokenizer(
        [match.group() for match in matches],
        is_split_into_words=True,
        truncation=True,
        max_length=max_seq_length,
    )
    word_ids = encoding.word_ids()
    spans = {word: matches[word].span() for word in word_ids if word is not None}
    return _grouped(text, encoding["input_ids"], word_ids, spans)


def _grouped(
    text: str,
    input_ids: Sequence[int],
    word_ids: Sequence[int | None],
    span_of_word: Mapping[int, Sequence[int]],
) -> EncodedText:
    """The EncodedText of a tokenisation, word indices renumbered densely (a word with no token,
    such as a lone control character, leaves no gap) and the text cut after the last word."""
    order = sorted(span_of_word)
    index_of = {word: position for position, word in enumerate(order)}
    word_spans = [(span_of_word[word][0], span_of_word[word][1]) for word in order]
    cut = word_spans[-1][1] if word_spans else 0
    return EncodedText(
        text=text[:cut],
        input_ids=list(input_ids),
        word_of_token=[None if word is None else index_of[word] for word in word_ids],
        word_spans=word_spans,
    )


def word_scores(token_scores: np.ndarray, encoded: EncodedText) -> np.ndarray:
    """Sum each word's sub-token scores (completeness is kept: the sum over words equals the sum
    over non-special tokens). Special tokens' scores are dropped."""
    scores = np.zeros(len(encoded.word_spans), dtype=np.float64)
    for score, word in zip(token_scores, encoded.word_of_token, strict=True):
        if word is not None:
            scores[word] += float(score)
    return scores
