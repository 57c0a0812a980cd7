"""Faithfulness of word attributions: ERASER's comprehensiveness and sufficiency (DeYoung et al.
2020, "ERASER: A Benchmark to Evaluate Rationalized NLP Models", section 4.2).

For a text x, a ranking of its words by attribution and the model's score m(.) of the target:
  comprehensiveness(k) = m(x) - m(x without its top-k% words)   higher: the words mattered
  sufficiency(k)       = m(x) - m(only its top-k% words)         lower: the words suffice
each summarised as AOPC, the mean over the bins k in {1, 5, 10, 20, 50}% (ERASER's bins; ERASER
also divides by |B|+1 to count k = 0, whose comprehensiveness is 0 by definition: we average the
five bins only, so our AOPC is ERASER's times 6/5). A bin keeps or removes ceil(k% x words)
words, at least one; removing a word deletes all its sub-tokens ([CLS]/[SEP] stay).

Raw AOPC depends on the text length and the model, so each method is compared with random
rankings of the same words (seeded; the mean of `random_rankings` permutations per text):
  comprehensiveness_gain = comprehensiveness - comprehensiveness_random   (> 0: better than chance)
  sufficiency_gain       = sufficiency_random - sufficiency               (> 0: better than chance)
  faithfulness           = comprehensiveness_gain + sufficiency_gain      (ranks the methods)

No maintained library does this with transformers 5: ferret (the usual one) pins
transformers < 5, so the metric lives here, tested against hand-computed values.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tuneforge.console import CountedProgress
from tuneforge.explain.model import ExplainModel
from tuneforge.explain.words import EncodedText

BINS_PERCENT = (1, 5, 10, 20, 50)
"""ERASER's top-k% bins."""
RANDOM = "random"


def words_in_bin(n_words: int, percent: float) -> int:
    """How many top-ranked words a k% bin covers: ceil(k% of the words), at least 1."""
    if n_words == 0:
        return 0
    return min(n_words, max(1, math.ceil(n_words * percent / 100)))


def erased_sequences(
    encoded: EncodedText, ranking: Sequence[int], bins: Sequence[float] = BINS_PERCENT
) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids per bin with the top words removed (comprehensiveness) and with only the top
    words kept (sufficiency); `ranking` lists word indices, most important first."""
    n_words = len(encoded.word_spans)
    removed, kept = [], []
    for percent in bins:
        top = list(ranking[: words_in_bin(n_words, percent)])
        removed.append(encoded.ids_without(top))
        top_set = set(top)
        kept.append(encoded.ids_without([w for w in range(n_words) if w not in top_set]))
    return removed, kept


def aopc(full_score: float, erased_scores: Sequence[float]) -> float:
    """Area over the perturbation curve: the mean drop of the score over the bins."""
    return float(np.mean([full_score - score for score in erased_scores]))


def ranking_of(scores: Sequence[float]) -> list[int]:
    """Word indices by attribution, highest (most supporting the target) first; ties by position."""
    return [int(i) for i in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")]


@dataclass
class TextFaithfulness:
    """One text's scores: AOPCs per ranking and the target score after each removal."""

    comprehensiveness: dict[str, float]
    sufficiency: dict[str, float]
    deletion_curve: dict[str, list[float]]
    """Target score with the top 0, 1, 5, ... % words removed, per ranking (random: mean)."""


def text_faithfulness(
    model: ExplainModel,
    encoded: EncodedText,
    target: int,
    word_scores: Mapping[str, Sequence[float]],
    bins: Sequence[float] = BINS_PERCENT,
    random_rankings: int = 5,
    seed: int = 0,
) -> TextFaithfulness:
    """Comprehensiveness and sufficiency of each method's ranking and of random rankings, all
    scored in one batch of the model."""
    rng = np.random.default_rng(seed)
    n_words = len(encoded.word_spans)
    rankings = {name: ranking_of(scores) for name, scores in word_scores.items()}
    randoms = [list(rng.permutation(n_words)) for _ in range(random_rankings)]
    sequences: list[list[int]] = [encoded.input_ids]
    for ranking in [*rankings.values(), *randoms]:
        removed, kept = erased_sequences(encoded, ranking, bins)
        sequences += removed + kept
    scores = model.scores_of_ids(sequences)[:, target]
    full, rest = float(scores[0]), scores[1:].reshape(-1, 2, len(bins))
    result = TextFaithfulness({}, {}, {})
    for index, name in enumerate(rankings):
        removed, kept = rest[index]
        result.comprehensiveness[name] = aopc(full, removed)
        result.sufficiency[name] = aopc(full, kept)
        result.deletion_curve[name] = [full, *map(float, removed)]
    if randoms:
        random_rows = rest[len(rankings) :]
        result.comprehensiveness[RANDOM] = float(np.mean([aopc(full, r[0]) for r in random_rows]))
        result.sufficiency[RANDOM] = float(np.mean([aopc(full, r[1]) for r in random_rows]))
        result.deletion_curve[RANDOM] = [full, *map(float, random_rows[:, 0].mean(axis=0))]
    return result


@dataclass
class FaithfulnessReport:
    """Mean faithfulness of each method over texts, normalised against random rankings."""

    methods: dict[str, dict[str, float]]
    """Per method: comprehensiveness, sufficiency, their random baselines and gains,
    faithfulness and seconds_per_text."""
    bins_percent: list[float]
    deletion_curves: dict[str, list[float]]
    texts: int
    settings: dict[str, Any] = field(default_factory=dict)

    def ranked(self) -> list[str]:
        """Methods, most faithful first."""
        return sorted(self.methods, key=lambda m: -self.methods[m]["faithfulness"])

    def to_json(self) -> dict[str, Any]:
        return {
            "texts": self.texts,
            "bins_percent": self.bins_percent,
            "ranking": self.ranked(),
            "methods": self.methods,
            "deletion_curves": self.deletion_curves,
            "settings": self.settings,
            "definition": __doc__.split("\n\n")[1] if __doc__ else "",
        }


def summarize(
    per_text: Sequence[TextFaithfulness],
    seconds: Mapping[str, float],
    bins: Sequence[float] = BINS_PERCENT,
) -> FaithfulnessReport:
    """Means over texts; gains against the random rankings; time per text per method."""
    methods: dict[str, dict[str, float]] = {}
    mean = lambda values: float(np.mean(values)) if values else float("nan")  # noqa: E731
    comp_random = mean([t.comprehensiveness[RANDOM] for t in per_text])
    suff_random = mean([t.sufficiency[RANDOM] for t in per_text])
    for name in seconds:
        comp = mean([t.comprehensiveness[name] for t in per_text])
        suff = mean([t.sufficiency[name] for t in per_text])
        methods[name] = {
            "comprehensiveness": comp,
            "sufficiency": suff,
            "comprehensiveness_random": comp_random,
            "sufficiency_random": suff_random,
            "comprehensiveness_gain": comp - comp_random,
            "sufficiency_gain": suff_random - suff,
            "faithfulness": (comp - comp_random) + (suff_random - suff),
            "seconds_per_text": seconds[name] / max(1, len(per_text)),
        }
    curves = {
        name: [mean([t.deletion_curve[name][i] for t in per_text]) for i in range(len(bins) + 1)]
        for name in [*seconds, RANDOM]
    }
    return FaithfulnessReport(methods, list(bins), curves, len(per_text))


def evaluate_faithfulness(
    model: ExplainModel,
    texts: Sequence[str],
    methods: Sequence[str],
    settings: Any = None,
    random_rankings: int = 5,
    show_progress: bool = False,
    on_partial: Callable[[FaithfulnessReport], None] | None = None,
    partial_every: int = 5,
) -> FaithfulnessReport:
    """Explain each text with each method (predicted class) and score the rankings.

    Args:
        on_partial: called with the report of the texts scored so far every `partial_every`
            texts, so that a long measurement stopped midway keeps what it measured.
    """
    from tuneforge.explain.attributions import ExplainSettings, explain_with

    settings = settings or ExplainSettings()
    seconds = dict.fromkeys(methods, 0.0)
    per_text: list[TextFaithfulness] = []

    def report() -> FaithfulnessReport:
        result = summarize(per_text, seconds)
        result.settings = {**vars(settings), "random_rankings": random_rankings}
        return result

    total = len(texts) * len(methods)
    with CountedProgress("faithfulness", total, show_progress, transient=True) as bar:
        for index, text in enumerate(texts):
            encoded = model.encode(text)
            if not encoded.word_spans:
                bar.advance(len(methods))
                continue
            target = int(np.argmax(model.scores_of_ids([encoded.input_ids])[0]))
            word_scores = {}
            for method in methods:
                started = time.perf_counter()
                word_scores[method] = explain_with(method, model, encoded, [target], settings)[0][
                    target
                ]
                seconds[method] += time.perf_counter() - started
                bar.advance(1)
            per_text.append(
                text_faithfulness(
                    model,
                    encoded,
                    target,
                    word_scores,
                    BINS_PERCENT,
                    random_rankings,
                    seed=settings.seed + index,
                )
            )
            if on_partial is not None and len(per_text) % partial_every == 0:
                on_partial(report())
    return report()
