"""LIME (Ribeiro et al. 2016) over the words of a text, with the `lime` package.

LIME sees the text as word placeholders ``w0 w1 ...``; our prediction function turns each
perturbed sample back into token ids with the dropped words' sub-tokens deleted. Dropping words
from the ids (not re-tokenising edited text) is the same erasure the faithfulness metrics use,
and it works for PyTorch and ONNX runs alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tuneforge.explain._optional import require
from tuneforge.explain.model import ExplainModel
from tuneforge.explain.words import EncodedText


def lime_word_scores(
    model: ExplainModel,
    encoded: EncodedText,
    targets: Sequence[int],
    num_samples: int = 500,
    seed: int = 0,
    scores_without: Callable[[list[list[int]]], np.ndarray] | None = None,
) -> dict[int, np.ndarray]:
    """LIME's linear-surrogate weight of each word, per target output.

    Args:
        num_samples: perturbed texts scored per explanation (lime's default 5,000 costs ten
            times as much; 500 ranks the top words the same on our sentence set in spot checks).
        scores_without: the outputs (n, outputs) with each list of word indices removed; by
            default the words' sub-tokens are deleted and the model's explained scores taken
            (NER masks them instead: explain/entities.py).
    """
    lime_text = require("lime.lime_text", "lime")
    n_words = len(encoded.word_spans)
    if n_words == 0:
        return {target: np.zeros(0) for target in targets}
    placeholders = " ".join(f"w{index}" for index in range(n_words))

    def deleted(removed: list[list[int]]) -> np.ndarray:
        return model.scores_of_ids([encoded.ids_without(words) for words in removed])

    score = scores_without or deleted

    def predict(samples: list[str]) -> np.ndarray:
        removed = []
        for sample in samples:
            kept = {int(token[1:]) for token in sample.split() if token.startswith("w")}
            removed.append([i for i in range(n_words) if i not in kept])
        return score(removed)

    explainer = lime_text.LimeTextExplainer(
        split_expression=r"\s+", bow=False, mask_string="", random_state=seed
    )
    explanation = explainer.explain_instance(
        placeholders,
        predict,
        labels=tuple(targets),
        num_features=n_words,
        num_samples=num_samples,
    )
    strings = explanation.domain_mapper.indexed_string
    scores: dict[int, np.ndarray] = {}
    for target in targets:
        row = np.zeros(n_words)
        for feature, weight in explanation.as_map()[target]:
            row[int(strings.word(feature)[1:])] = weight
        scores[target] = row
    return scores
