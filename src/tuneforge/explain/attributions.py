"""Word attributions of a run's predictions: integrated gradients, LIME and SHAP side by side.

Every method answers the same question, "how much does each word push the target output?", as
one score per word (sub-token scores summed per word, explain/words.py), so that the report and
the faithfulness metrics treat them alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tuneforge.console import CountedProgress
from tuneforge.errors import ExplainError
from tuneforge.explain.model import ExplainModel
from tuneforge.explain.words import EncodedText, word_scores

METHODS = ("ig", "lime", "shap")
"""Every method; `--method all` runs those the run's backend allows."""


@dataclass(frozen=True)
class ExplainSettings:
    """Cost knobs of the methods (defaults: the papers' or the packages' usual values)."""

    n_steps: int = 50
    """Integrated-gradients path steps."""
    internal_batch_size: int = 16
    """Integrated-gradients path points per forward pass."""
    lime_samples: int = 500
    """Perturbed texts per LIME explanation."""
    shap_max_evals: int = 500
    """Model evaluations per SHAP explanation."""
    seed: int = 0


MethodResult = tuple[dict[int, np.ndarray], dict[str, Any]]
"""Word scores per target output, and extras to report (IG's convergence delta)."""


def _ig(
    model: ExplainModel, encoded: EncodedText, targets: Sequence[int], settings: ExplainSettings
) -> MethodResult:
    from tuneforge.explain.ig import integrated_gradients

    scores, deltas = {}, {}
    for target in targets:
        result = integrated_gradients(
            model, encoded, target, settings.n_steps, settings.internal_batch_size
        )
        scores[target] = word_scores(result.token_scores, encoded)
        deltas[model.output_names[target]] = result.convergence_delta
    return scores, {"convergence_delta": deltas, "n_steps": settings.n_steps}


def _lime(
    model: ExplainModel, encoded: EncodedText, targets: Sequence[int], settings: ExplainSettings
) -> MethodResult:
    from tuneforge.explain.lime_text import lime_word_scores

    scores = lime_word_scores(model, encoded, targets, settings.lime_samples, settings.seed)
    return scores, {"num_samples": settings.lime_samples}


def _shap(
    model: ExplainModel, encoded: EncodedText, targets: Sequence[int], settings: ExplainSettings
) -> MethodResult:
    from tuneforge.explain.shap_text import shap_word_scores

    return shap_word_scores(model, encoded, targets, settings.shap_max_evals), {
        "max_evals": settings.shap_max_evals
    }


_EXPLAINERS: dict[
    str, Callable[[ExplainModel, EncodedText, Sequence[int], ExplainSettings], MethodResult]
] = {"ig": _ig, "lime": _lime, "shap": _shap}


def explain_with(
    method: str,
    model: ExplainModel,
    encoded: EncodedText,
    targets: Sequence[int],
    settings: ExplainSettings,
) -> MethodResult:
    """Word scores of one encoded text by one method (see METHODS)."""
    return _EXPLAINERS[method](model, encoded, targets, settings)


def resolve_methods(method: str, model: ExplainModel) -> list[str]:
    """`ig`, `lime`, `shap` or `all` (ONNX runs: all = lime and shap; ig is refused)."""
    if method == "all":
        return [m for m in METHODS if m != "ig" or model.has_gradients]
    if method not in METHODS:
        raise ExplainError(f"--method {method!r}: use one of {', '.join(METHODS)} or all.")
    if method == "ig":
        model.differentiable()  # raises the ONNX explanation before any work
    return [method]


def resolve_targets(target: str | None, model: ExplainModel, scores: np.ndarray) -> list[int]:
    """Output indices to explain: the predicted one (None), every output ("all") or a label."""
    names = model.output_names
    if target is None:
        return [int(np.argmax(scores))]
    if target == "all":
        return list(range(len(names)))
    if target not in names:
        raise ExplainError(f"--target {target!r} is not a label of this run: {', '.join(names)}.")
    return [names.index(target)]


def explain_text(
    model: ExplainModel,
    text: str,
    methods: Sequence[str],
    target: str | None = None,
    settings: ExplainSettings | None = None,
) -> dict[str, Any]:
    """Word attributions of one text by each method, with the prediction they explain (NER:
    one explanation per predicted entity span, `target` an entity type; explain/entities.py)."""
    settings = settings or ExplainSettings()
    if not model.predictor.task.sequence_level:
        from tuneforge.explain.entities import explain_entities

        return explain_entities(model, text, methods, target, settings)
    encoded = model.encode(text)
    scores = model.scores_of_ids([encoded.input_ids])[0]
    targets = resolve_targets(target, model, scores)
    names = model.output_names
    best = int(np.argmax(scores))
    attributions: dict[str, Any] = {}
    for method in methods:
        started = time.perf_counter()
        per_target, extras = explain_with(method, model, encoded, targets, settings)
        attributions[method] = {
            "targets": {names[t]: [round(float(v), 6) for v in per_target[t]] for t in targets},
            "seconds": round(time.perf_counter() - started, 4),
            **extras,
        }
    task, metadata = model.predictor.task, model.predictor.metadata
    reported = [task.explained_value(float(value), metadata) for value in scores]
    return {
        "text": encoded.text,
        "truncated": len(encoded.text) < len(text.rstrip()),
        "prediction": {"label": names[best], "score": reported[best]},
        "scores": dict(zip(names, reported, strict=True)),
        "words": encoded.words,
        "spans": [list(span) for span in encoded.word_spans],
        "attributions": attributions,
    }


def explain_texts(
    model: ExplainModel,
    texts: Sequence[str],
    methods: Sequence[str],
    target: str | None = None,
    settings: ExplainSettings | None = None,
    show_progress: bool = False,
) -> list[dict[str, Any]]:
    """`explain_text` for each text, with a progress bar on the console when asked."""
    results = []
    total = len(texts) * len(methods)
    with CountedProgress("explaining", total, show_progress, transient=True) as bar:
        for text in texts:
            results.append(explain_text(model, text, methods, target, settings))
            bar.advance(len(methods))
    return results
