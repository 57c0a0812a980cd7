"""Explanations of NER runs: word attributions for each predicted entity span.

What is explained for a span of type X is the model's belief that its words belong to an entity
of type X: p(B-X) + p(I-X) at each word's first sub-token (the token that carries the word's tag,
tasks/ner.py), averaged over the span's words. Summing B and I keeps the score meaningful where
the tagger's I-X was repaired into a B-X; averaging keeps long and short spans comparable.

Words are the whitespace words the NER model tags (each tokenised on its own, as in training),
not the tokenizer's own pre-tokenized words. Removing a word (LIME, SHAP) replaces its sub-tokens
with [MASK] instead of deleting them: every span keeps its token positions, so its score stays
defined when its own words are hidden (it then measures what the context alone says). SHAP's
Text masker does the same with output_type="token_ids".
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tuneforge.errors import ExplainError
from tuneforge.explain.model import ExplainModel
from tuneforge.explain.words import EncodedText, encode_whitespace_words, word_scores

if TYPE_CHECKING:
    from tuneforge.explain.attributions import ExplainSettings


@dataclass(frozen=True)
class EntityTarget:
    """One predicted span as an output to explain."""

    key: str
    """`<type> <start>:<end>` (character offsets): the span's name in `targets`."""
    entity: str
    positions: list[int]
    """The first sub-token of each of its words."""
    columns: list[int]
    """The B-<type> and I-<type> columns of the tag logits."""


def span_scores(token_logits: torch.Tensor, targets: Sequence[EntityTarget]) -> torch.Tensor:
    """(batch, spans): each span's mean p(B-X) + p(I-X) over its words, from (batch, length,
    tags) logits; differentiable (integrated gradients explains it through this function)."""
    probabilities = token_logits.float().softmax(dim=-1)
    columns = [
        probabilities[:, target.positions][:, :, target.columns].sum(dim=-1).mean(dim=-1)
        for target in targets
    ]
    if not columns:
        return probabilities.new_zeros((probabilities.shape[0], 0))
    return torch.stack(columns, dim=-1)


def entity_targets(
    prediction: dict[str, Any], encoded: EncodedText, names: Sequence[str]
) -> list[EntityTarget]:
    """The predicted entities (Predictor.predict's `entities`) as spans of encoded words."""
    first_token: dict[int, int] = {}
    for position, word in enumerate(encoded.word_of_token):
        if word is not None:
            first_token.setdefault(word, position)
    targets = []
    for entity in prediction["entities"]:
        words = [
            index
            for index, (start, end) in enumerate(encoded.word_spans)
            if start >= entity["start"] and end <= entity["end"]
        ]
        columns = [
            names.index(f"{p}-{entity['entity']}")
            for p in "BI"
            if f"{p}-{entity['entity']}" in names
        ]
        targets.append(
            EntityTarget(
                key=f"{entity['entity']} {entity['start']}:{entity['end']}",
                entity=entity["entity"],
                positions=[first_token[word] for word in words],
                columns=columns,
            )
        )
    return targets


def _chosen(
    targets: list[EntityTarget], target: str | None, types: Sequence[str]
) -> list[EntityTarget]:
    """Spans to explain: every one (None or "all") or those of one entity type."""
    if target in (None, "all"):
        return targets
    if target not in types:
        raise ExplainError(
            f"--target {target!r} is not an entity type of this run: {', '.join(types)}."
        )
    return [span for span in targets if span.entity == target]


def explain_entities(
    model: ExplainModel,
    text: str,
    methods: Sequence[str],
    target: str | None,
    settings: ExplainSettings,
) -> dict[str, Any]:
    """Word attributions of each predicted entity span of one text, by each method.

    The result has explain_text's keys; `prediction` is the NER prediction (tokens, tags,
    entities, each entity with its `key`), `scores` the explained score of each span, and
    `attributions[method].targets[key]` one score per word.
    """
    predictor = model.predictor
    encoded = encode_whitespace_words(model.tokenizer, text, predictor.max_seq_length)
    prediction = predictor.predict([encoded.text])[0]
    targets = entity_targets(prediction, encoded, model.output_names)
    for entity, span in zip(prediction["entities"], targets, strict=True):
        entity["key"] = span.key
    types = predictor.task.class_categories(model.output_names)
    chosen = _chosen(targets, target, types)
    scores = _span_scores_of_ids(model, [encoded.input_ids], targets)[0]
    attributions: dict[str, Any] = {}
    for method in methods:
        started = time.perf_counter()
        per_target, extras = _EXPLAINERS[method](model, encoded, chosen, settings)
        attributions[method] = {
            "targets": {
                span.key: [round(float(v), 6) for v in values]
                for span, values in zip(chosen, per_target, strict=True)
            },
            "seconds": round(time.perf_counter() - started, 4),
            **extras,
        }
    return {
        "text": encoded.text,
        "truncated": len(encoded.text) < len(text.rstrip()),
        "prediction": prediction,
        "scores": {span.key: float(value) for span, value in zip(targets, scores, strict=True)},
        "words": encoded.words,
        "spans": [list(span) for span in encoded.word_spans],
        "attributions": attributions,
    }


def _masked_scores(
    model: ExplainModel,
    encoded: EncodedText,
    removed: Sequence[Sequence[int]],
    targets: Sequence[EntityTarget],
) -> np.ndarray:
    """(n, spans) span scores with each list of words masked."""
    mask_token_id = model.tokenizer.mask_token_id
    if mask_token_id is None:
        raise ExplainError(
            "LIME and SHAP on NER runs mask words, and this tokenizer has no mask token."
        )
    return _span_scores_of_ids(
        model, [encoded.ids_masked(words, mask_token_id) for words in removed], targets
    )


def _span_scores_of_ids(
    model: ExplainModel, sequences: Sequence[Sequence[int]], targets: Sequence[EntityTarget]
) -> np.ndarray:
    """(n, spans) span scores of same-length token id sequences (the predictor's backend)."""
    if not sequences:
        return np.zeros((0, len(targets)))
    logits = torch.from_numpy(np.stack(model.logits_of_ids(sequences))).float()
    with torch.no_grad():
        return span_scores(logits, targets).numpy().astype(np.float64)


Scores = tuple[list[np.ndarray], dict[str, Any]]


def _ig(
    model: ExplainModel,
    encoded: EncodedText,
    targets: list[EntityTarget],
    settings: ExplainSettings,
) -> Scores:
    from tuneforge.explain.ig import integrated_gradients

    def outputs(logits: torch.Tensor) -> torch.Tensor:
        return span_scores(logits, targets)

    scores, deltas = [], {}
    for index, span in enumerate(targets):
        result = integrated_gradients(
            model, encoded, index, settings.n_steps, settings.internal_batch_size, outputs
        )
        scores.append(word_scores(result.token_scores, encoded))
        deltas[span.key] = result.convergence_delta
    return scores, {"convergence_delta": deltas, "n_steps": settings.n_steps}


def _lime(
    model: ExplainModel,
    encoded: EncodedText,
    targets: list[EntityTarget],
    settings: ExplainSettings,
) -> Scores:
    from tuneforge.explain.lime_text import lime_word_scores

    if not targets:
        return [], {"num_samples": settings.lime_samples}
    scores = lime_word_scores(
        model,
        encoded,
        list(range(len(targets))),
        settings.lime_samples,
        settings.seed,
        scores_without=lambda removed: _masked_scores(model, encoded, removed, targets),
    )
    return [scores[index] for index in range(len(targets))], {"num_samples": settings.lime_samples}


def _shap(
    model: ExplainModel,
    encoded: EncodedText,
    targets: list[EntityTarget],
    settings: ExplainSettings,
) -> Scores:
    from tuneforge.explain.shap_text import shap_masked_id_scores

    if not targets:
        return [], {"max_evals": settings.shap_max_evals}
    token_values = shap_masked_id_scores(
        model,
        encoded,
        lambda ids: _span_scores_of_ids(model, ids, targets),
        [span.key for span in targets],
        settings.shap_max_evals,
    )
    scores = [word_scores(token_values[:, index], encoded) for index in range(len(targets))]
    return scores, {"max_evals": settings.shap_max_evals}


_EXPLAINERS = {"ig": _ig, "lime": _lime, "shap": _shap}
