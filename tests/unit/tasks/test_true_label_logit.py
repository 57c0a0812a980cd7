"""The logit-scaled confidence of the true label (the membership-inference score) per task."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tuneforge.tasks import get_task


def test_true_label_logit_classification_by_hand() -> None:
    task = get_task("classification")
    # p = e^2 / (e^2 + 2): log(p / (1 - p)) = 2 - log 2. Label 1: p = 1 / (e^2 + 2).
    logits = np.array([[2.0, 0.0, 0.0], [2.0, 0.0, 0.0]])
    phi = task.true_label_logit(logits, [{"labels": 0}, {"labels": 1}])
    assert phi == pytest.approx([2 - math.log(2), -math.log(math.exp(2) + 1)])


def test_true_label_logit_classification_stays_finite_where_p_rounds_to_one() -> None:
    # softmax gives p = 1.0 exactly in float64 here; z_y - logsumexp(others) gives 60.
    phi = get_task("classification").true_label_logit(np.array([[60.0, 0.0]]), [{"labels": 0}])
    assert phi == pytest.approx([60.0])


def test_true_label_logit_multilabel_uses_the_whole_label_set() -> None:
    task = get_task("multilabel")
    # Two labels at logit 0: p(true set) = 1/4 whichever set, so φ = log(1/3).
    phi = task.true_label_logit(np.zeros((2, 2)), [{"labels": [1.0, 0.0]}, {"labels": [0.0, 0.0]}])
    assert phi == pytest.approx([math.log(1 / 3)] * 2)
    # Logits (3, -3) agreeing with labels (1, 0): p = σ(3)^2.
    p = (1 / (1 + math.exp(-3))) ** 2
    phi = task.true_label_logit(np.array([[3.0, -3.0]]), [{"labels": [1.0, 0.0]}])
    assert phi == pytest.approx([math.log(p / (1 - p))])


@pytest.mark.parametrize("name", ["regression", "ner"])
def test_true_label_logit_is_none_without_a_probability_of_the_label(name: str) -> None:
    assert get_task(name).true_label_logit(np.zeros((1, 1)), [{"labels": 0.0}]) is None
