"""Tokenising long texts from a prefix gives exactly the tokens of the whole text."""

from __future__ import annotations

from pathlib import Path

import pytest
from transformers import AutoTokenizer

from tuneforge.tasks._encoding import tokenize_texts


@pytest.fixture(scope="module")
def tokenizer(minilm_path: Path):
    return AutoTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="module")
def articles(bbc_news_dir: Path) -> list[str]:
    paths = sorted(bbc_news_dir.glob("*/*.txt"))[::4]  # every topic, 557 articles
    return [path.read_text(encoding="utf-8", errors="replace") for path in paths]


def _whole(tokenizer, texts: list[str], max_length: int) -> list[dict]:
    encoded = tokenizer(texts, truncation=True, max_length=max_length)
    keys = ("input_ids", "attention_mask", "token_type_ids")
    return [{key: encoded[key][index] for key in keys} for index in range(len(texts))]


@pytest.mark.parametrize("max_length", [32, 128, 256])
def test_long_articles_get_the_whole_texts_tokens(tokenizer, articles, max_length) -> None:
    assert tokenize_texts(tokenizer, articles, max_length) == _whole(
        tokenizer, articles, max_length
    )


def test_texts_the_prefix_cannot_cover_fall_back_to_the_whole_text(tokenizer, articles) -> None:
    # No space to cut at, a prefix with too few tokens (long words), and short texts mixed in.
    unbroken = "x" * 5000
    long_words = " ".join(["internationalisation"] * 300) + " end " + articles[0]
    # Two word pieces per 21 characters: the prefix falls short of 128 tokens.
    assert len(tokenizer(long_words[:1000])["input_ids"]) < 128
    texts = [unbroken, long_words, "short text", *articles[:20]]
    assert tokenize_texts(tokenizer, texts, 128) == _whole(tokenizer, texts, 128)


def test_left_truncating_tokenizer_is_tokenised_whole(minilm_path: Path, articles) -> None:
    left = AutoTokenizer.from_pretrained(minilm_path, truncation_side="left")
    features = tokenize_texts(left, articles[:10], 64)
    assert features == _whole(left, articles[:10], 64)
    assert features[0]["input_ids"][-1] == left.sep_token_id
