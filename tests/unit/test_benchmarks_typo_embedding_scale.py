"""benchmarks/typo_embedding_scale.py: norms from the real MiniLM word embeddings, seeded typos."""

from __future__ import annotations

import math

from benchmarks.typo_embedding_scale import embedding_scale

TEXTS = ["A boring, predictable film.", "Brilliant acting and a terrible script."]


def test_benchmarks_typo_embedding_scale_norms_and_seed() -> None:
    result = embedding_scale(TEXTS, 0.2, seed=0)
    assert result == embedding_scale(TEXTS, 0.2, seed=0)
    assert result["sentences"] == 2
    # all-MiniLM-L6-v2 word embeddings have an l2 norm of about 1.1 (docs/benchmarks.md)
    assert 0.8 < result["token_norm_mean"] < 1.5
    # a sentence's norm over its n tokens is about sqrt(n) token norms: more than one token's
    assert result["sentence_norm_mean"] > 2 * result["token_norm_mean"]
    assert 0.0 <= result["length_changed_share"] <= 1.0
    if result["same_length_distance_median"] is not None:
        assert result["same_length_distance_median"] >= 0.0
        assert math.isfinite(result["same_length_relative_median"])
