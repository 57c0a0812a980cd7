"""SHAP values (Lundberg and Lee 2017) with shap's Partition explainer and its Text masker.

The masker tokenises with the run's own tokenizer and hides tokens behind [MASK] following
shap's hierarchical clustering of the text (Owen values); the prediction function is ours and
batched, not shap's transformers pipeline wrapper, so any tuneforge run (PyTorch or ONNX) works.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tuneforge.errors import ExplainError
from tuneforge.explain._optional import require
from tuneforge.explain.model import ExplainModel
from tuneforge.explain.words import EncodedText, word_scores


def shap_word_scores(
    model: ExplainModel,
    encoded: EncodedText,
    targets: Sequence[int],
    max_evals: int = 500,
) -> dict[int, np.ndarray]:
    """Partition SHAP values summed per word, per target output.

    Args:
        max_evals: model calls per text (shap's default); fewer gives coarser coalitions.
    """
    shap = require("shap", "shap")
    if not encoded.word_spans:
        return {target: np.zeros(0) for target in targets}

    def predict(texts: np.ndarray) -> np.ndarray:
        return model.scores_of_texts([str(text) for text in texts])

    masker = shap.maskers.Text(model.tokenizer)
    explainer = shap.explainers.Partition(predict, masker, output_names=model.output_names)
    result = explainer(
        [encoded.text], max_evals=max_evals, batch_size=model.predictor.batch_size, silent=True
    )
    values = np.asarray(result.values[0], dtype=np.float64)  # (tokens, outputs)
    token_values = _align_to_tokens(values, result.data[0], encoded, model)
    return {target: word_scores(token_values[:, target], encoded) for target in targets}


def _align_to_tokens(
    values: np.ndarray, segments: Sequence[str], encoded: EncodedText, model: ExplainModel
) -> np.ndarray:
    """shap's values per masker token, which are our token positions: the masker tokenises the
    same text with the same fast tokenizer, special tokens included (as empty segments)."""
    if values.shape[0] != len(encoded.input_ids):
        raise ExplainError(
            f"shap's Text masker split the text into {values.shape[0]} tokens and the model's "
            f"tokenizer into {len(encoded.input_ids)}: SHAP cannot explain this tokenizer."
        )
    return values


def shap_masked_id_scores(
    model: ExplainModel,
    encoded: EncodedText,
    predict_ids: Callable[[np.ndarray], np.ndarray],
    output_names: Sequence[str],
    max_evals: int = 500,
) -> np.ndarray:
    """Partition SHAP values per token (tokens, outputs) where hidden tokens become [MASK] in
    place: the Text masker hands `predict_ids` token id rows of the text's own length
    (output_type="token_ids"), so outputs tied to token positions (NER spans) stay defined."""
    shap = require("shap", "shap")
    tokenizer = model.tokenizer
    if list(tokenizer(encoded.text)["input_ids"]) != list(encoded.input_ids):
        # The masker tokenises the raw text; the words were tokenised one by one.
        raise ExplainError(
            "SHAP cannot explain this NER run: its tokenizer splits the text differently from "
            "the words it tags. Use --method ig or --method lime."
        )
    masker = shap.maskers.Text(tokenizer, output_type="token_ids")

    def predict(rows: np.ndarray) -> np.ndarray:
        return predict_ids(np.asarray(rows, dtype=np.int64).tolist())

    explainer = shap.explainers.Partition(predict, masker, output_names=list(output_names))
    result = explainer(
        [encoded.text], max_evals=max_evals, batch_size=model.predictor.batch_size, silent=True
    )
    values = np.asarray(result.values[0], dtype=np.float64)
    return _align_to_tokens(values, result.data[0], encoded, model)
