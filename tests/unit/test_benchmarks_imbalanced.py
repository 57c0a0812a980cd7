"""The pure parts of the imbalanced review set: valence bands, exact shares, seeded sampling.

Nothing here downloads: the rows are small in-memory stand-ins for the VADER ground-truth file.
"""

from __future__ import annotations

from collections import Counter

import pytest

from benchmarks.imbalanced_reviews import (
    DEFAULT_SHARES,
    Snippet,
    class_counts,
    drop_repeated_texts,
    parse_ground_truth,
    sample_by_class,
    valence_to_label,
)


@pytest.mark.parametrize(
    ("valence", "label"),
    [
        (-4.0, "negative"),
        (-1.0, "negative"),  # the negative bound is inclusive
        (-0.99, "neutral"),
        (0.0, "neutral"),
        (0.99, "neutral"),
        (1.0, "positive"),  # so is the positive one
        (3.94, "positive"),
    ],
)
def test_imbalanced_reviews_valence_bands(valence: float, label: str) -> None:
    assert valence_to_label(valence) == label


def test_imbalanced_reviews_valence_bands_reject_crossed_bounds() -> None:
    with pytest.raises(ValueError, match="below"):
        valence_to_label(0.0, negative_max=1.0, positive_min=-1.0)


def test_imbalanced_reviews_parses_crlf_ground_truth_without_final_newline() -> None:
    # The real file's shape: CRLF line ends, PTB-style '' quotes, no newline after the last row.
    text = "1\t2.26666666667\tThe Rock is ''Conan''.\r\n2\t-0.6\tEffective but too tepid biopic"
    assert parse_ground_truth(text) == [
        Snippet(1, 2.26666666667, "The Rock is ''Conan''."),
        Snippet(2, -0.6, "Effective but too tepid biopic"),
    ]


def test_imbalanced_reviews_parse_names_the_bad_line() -> None:
    with pytest.raises(ValueError, match=":2:"):
        parse_ground_truth("1\t0.5\tfine\r\nbroken line\r\n")


def test_imbalanced_reviews_drops_every_copy_of_repeated_texts() -> None:
    snippets = [
        Snippet(1, -2.8, "...a mess..."),
        Snippet(2, 0.3, "ok"),
        Snippet(3, -2.1, "...a mess..."),
    ]
    assert drop_repeated_texts(snippets) == [Snippet(2, 0.3, "ok")]


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (600, {"positive": 390, "neutral": 150, "negative": 60}),
        (20, {"positive": 13, "neutral": 5, "negative": 2}),
        # 7 x (0.65, 0.25, 0.10) = 4.55, 1.75, 0.7: largest remainders (0.75, 0.7) get the 2 rows.
        (7, {"positive": 4, "neutral": 2, "negative": 1}),
    ],
)
def test_imbalanced_reviews_class_counts_sum_to_rows(rows: int, expected: dict[str, int]) -> None:
    assert class_counts(rows, DEFAULT_SHARES) == expected


def test_imbalanced_reviews_class_counts_reject_shares_not_summing_to_one() -> None:
    with pytest.raises(ValueError, match="summing to 1"):
        class_counts(10, (("positive", 0.6), ("negative", 0.3)))


def _labelled_pool() -> list[tuple[str, str]]:
    valences = [(-3 + 6 * i / 199) for i in range(200)]  # -3..+3: all three bands populated
    return [(f"review {i}", valence_to_label(v)) for i, v in enumerate(valences)]


def test_imbalanced_reviews_sample_has_exact_shares_and_is_seeded() -> None:
    pool = _labelled_pool()
    counts = class_counts(40, DEFAULT_SHARES)
    sample = sample_by_class(pool, counts, seed=0)

    assert Counter(label for _, label in sample) == counts
    assert len({text for text, _ in sample}) == 40  # without replacement
    assert set(sample) <= set(pool)  # every text keeps its own label
    assert sample_by_class(pool, counts, seed=0) == sample
    assert sample_by_class(pool, counts, seed=1) != sample


def test_imbalanced_reviews_sample_is_not_grouped_by_label() -> None:
    sample = sample_by_class(_labelled_pool(), class_counts(40, DEFAULT_SHARES), seed=0)
    labels = [label for _, label in sample]
    assert labels != sorted(labels, key=[label for label, _ in DEFAULT_SHARES].index)


def test_imbalanced_reviews_sample_refuses_a_class_too_small() -> None:
    pool = [("a", "positive"), ("b", "negative")]
    with pytest.raises(ValueError, match="'negative' has 1 rows, 2 wanted"):
        sample_by_class(pool, {"positive": 1, "negative": 2}, seed=0)
