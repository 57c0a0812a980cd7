"""Majority and TF-IDF + logistic regression baselines on real BBC News articles."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _configs import BBC_TOPICS, bbc_articles

from tuneforge.evaluate.baselines import baseline_metrics

LABEL_NAMES = list(BBC_TOPICS)


@pytest.fixture(scope="module")
def bbc_split(bbc_news_dir: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """300 train articles (60 per topic) and 100 eval articles, the eval set skewed to sports."""
    train = bbc_articles(bbc_news_dir, per_topic=60)
    later = bbc_articles(bbc_news_dir, per_topic=40, offset=60)
    # 40 sports and 15 of each other topic: a majority share no balanced split would give.
    per_topic_eval = {"sports": 40, "business": 15, "entertainment": 15, "politics": 15, "tech": 15}
    seen: Counter[str] = Counter()
    evaluation = []
    for text, topic in later:
        if seen[topic] < per_topic_eval[topic]:
            evaluation.append((text, topic))
            seen[topic] += 1
    return train, evaluation


@pytest.fixture(scope="module")
def bbc_classification(bbc_split: Any) -> dict[str, dict[str, Any]]:
    train, evaluation = bbc_split
    # Sports first in training by one extra article so it is the unique majority class.
    train = train + [article for article in train if article[1] == "sports"][:1]
    return baseline_metrics(
        [text for text, _ in train],
        [topic for _, topic in train],
        [text for text, _ in evaluation],
        [topic for _, topic in evaluation],
        LABEL_NAMES,
        multilabel=False,
    )


def test_baselines_tfidf_logreg_separates_bbc_topics(bbc_classification: dict) -> None:
    tfidf = bbc_classification["tfidf_logreg"]
    assert tfidf["macro_f1"] > 0.85
    assert tfidf["accuracy"] > 0.85
    assert tfidf["num_examples"] == 100


def test_baselines_majority_predicts_the_commonest_train_class(bbc_classification: dict) -> None:
    majority = bbc_classification["majority"]
    # Always "sports": accuracy = its eval share 40/100; F1 of sports 2*0.4/1.4, others 0.
    assert majority["accuracy"] == pytest.approx(0.40)
    assert majority["macro_f1"] == pytest.approx((2 * 0.4 / 1.4) / 5)
    assert majority["macro_f1"] < bbc_classification["tfidf_logreg"]["macro_f1"] - 0.5
    # One-hot confidence 1 everywhere: the calibration error is the error rate.
    assert majority["expected_calibration_error"] == pytest.approx(0.60)


def test_baselines_keep_only_scalar_metrics(bbc_classification: dict) -> None:
    for metrics in bbc_classification.values():
        assert {"per_class", "confusion_matrix"}.isdisjoint(metrics)
        assert all(
            type(value) is float for name, value in metrics.items() if name != "num_examples"
        )
        assert type(metrics["num_examples"]) is int


def test_baselines_class_absent_from_train_gets_zero_column(bbc_split: Any) -> None:
    train, evaluation = bbc_split
    train = [article for article in train if article[1] != "tech"]
    result = baseline_metrics(
        [text for text, _ in train],
        [topic for _, topic in train],
        [text for text, _ in evaluation],
        [topic for _, topic in evaluation],
        LABEL_NAMES,
        multilabel=False,
    )
    tfidf = result["tfidf_logreg"]
    # The 15 tech articles can never be right; the other 85 mostly are.
    assert tfidf["accuracy"] <= 0.85
    assert tfidf["accuracy"] > 0.70
    assert tfidf["num_examples"] == 100


def test_baselines_single_class_train_falls_back_to_majority(bbc_split: Any) -> None:
    train, evaluation = bbc_split
    sports = [text for text, topic in train if topic == "sports"]
    result = baseline_metrics(
        sports,
        ["sports"] * len(sports),
        [text for text, _ in evaluation],
        [topic for _, topic in evaluation],
        LABEL_NAMES,
        multilabel=False,
    )
    assert result["tfidf_logreg"] == result["majority"]
    assert result["majority"]["accuracy"] == pytest.approx(0.40)


def test_baselines_empty_eval_returns_empty_dict(bbc_split: Any) -> None:
    train, _ = bbc_split
    texts, labels = [text for text, _ in train[:10]], [topic for _, topic in train[:10]]
    assert baseline_metrics(texts, labels, [], [], LABEL_NAMES, multilabel=False) == {}


def test_baselines_texts_without_vocabulary_do_not_crash() -> None:
    # Punctuation and one-letter tokens: the word token pattern finds no term at all, so the
    # character n-gram fallback is used; "!" and "?" are separable by their characters.
    train_texts = ["!", "! !", "? ?", "?", "! a", "? b"]
    train_labels = ["yes", "yes", "no", "no", "yes", "no"]
    result = baseline_metrics(
        train_texts, train_labels, ["! !", "?"], ["yes", "no"], ["yes", "no"], multilabel=False
    )
    assert result["tfidf_logreg"]["accuracy"] == 1.0
    assert result["majority"]["accuracy"] == 0.5


def test_baselines_empty_texts_fall_back_to_majority() -> None:
    result = baseline_metrics(
        ["", "", ""], ["a", "b", "b"], ["", ""], ["a", "b"], ["a", "b"], multilabel=False
    )
    assert result["tfidf_logreg"] == result["majority"]
    assert result["majority"]["accuracy"] == 0.5


def test_baselines_unknown_label_raises() -> None:
    with pytest.raises(ValueError, match="not in label_names"):
        baseline_metrics(["x y"], ["a"], ["x y"], ["c"], ["a", "b"], multilabel=False)


# --- multilabel -----------------------------------------------------------------------------


def _multilabel(articles: list[tuple[str, str]], median_words: float) -> list[tuple[str, ...]]:
    """Label set of an article: its topic, plus "long" when longer than the train median.

    BBC articles carry one topic each; adding length as a second, independent label makes a
    real-text multi-label set with about half of the rows holding two labels.
    """
    return [
        (topic, "long") if len(text.split()) > median_words else (topic,)
        for text, topic in articles
    ]


@pytest.fixture(scope="module")
def bbc_multilabel(bbc_split: Any) -> tuple[dict, list, list]:
    train, evaluation = bbc_split
    median_words = float(np.median([len(text.split()) for text, _ in train]))
    train_sets, eval_sets = _multilabel(train, median_words), _multilabel(evaluation, median_words)
    result = baseline_metrics(
        [text for text, _ in train],
        train_sets,
        [text for text, _ in evaluation],
        eval_sets,
        [*LABEL_NAMES, "long"],
        multilabel=True,
    )
    return result, train_sets, eval_sets


def test_baselines_multilabel_tfidf_beats_majority(bbc_multilabel: tuple) -> None:
    result, _, _ = bbc_multilabel
    assert result["tfidf_logreg"]["micro_f1"] > 0.75
    assert result["tfidf_logreg"]["micro_f1"] > result["majority"]["micro_f1"] + 0.2
    assert {"per_label"}.isdisjoint(result["tfidf_logreg"])
    assert result["tfidf_logreg"]["num_examples"] == 100


def test_baselines_multilabel_majority_is_the_constant_label_set(bbc_multilabel: tuple) -> None:
    result, train_sets, eval_sets = bbc_multilabel
    # 300 distinct train lengths: exactly 150 lie above the median, so "long" has a positive rate
    # of exactly 0.5 and is kept (>= 0.5); each topic has 0.2. The majority predicts {"long"}.
    counts = Counter(name for names in train_sets for name in names)
    assert counts["long"] == len(train_sets) / 2
    assert all(counts[topic] == 60 for topic in LABEL_NAMES)
    majority = result["majority"]
    assert majority["subset_accuracy"] == 0.0  # every row also holds a topic
    tp = sum("long" in names for names in eval_sets)
    fp = len(eval_sets) - tp
    fn = sum(len(names) for names in eval_sets) - tp
    assert majority["micro_f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))
    assert majority["micro_precision"] == pytest.approx(tp / len(eval_sets))


def test_baselines_multilabel_majority_keeps_labels_with_half_positive_rate() -> None:
    train_sets = [("a", "b"), ("a",), ("a", "c"), ("b",)]  # a 0.75, b 0.5, c 0.25
    result = baseline_metrics(
        ["w x", "w y", "w z", "x y"],
        train_sets,
        ["w x", "y z"],
        [("a", "b"), ("c",)],
        ["a", "b", "c"],
        multilabel=True,
    )
    # Predicted {a, b} for both rows: first exact, second all wrong.
    assert result["majority"]["subset_accuracy"] == 0.5
    assert result["majority"]["hamming_loss"] == pytest.approx(3 / 6)
