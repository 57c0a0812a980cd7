"""Tokenisation shared by the sequence-level tasks (classification, multilabel, regression)."""

from __future__ import annotations

from typing import Any

Features = dict[str, Any]


def tokenize_texts(tokenizer: Any, texts: list[str], max_seq_length: int) -> list[Features]:
    """Tokenise once, unpadded: padding happens per batch in the collator (dynamic padding)."""
    if not texts:
        return []
    encoded = tokenizer(texts, truncation=True, max_length=max_seq_length)
    keys = [key for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded]
    return [{key: encoded[key][index] for key in keys} for index in range(len(texts))]


def class_head_config(names: list[str], problem_type: str | None = None) -> dict[str, Any]:
    """Head size and label maps; id2label/label2id make plain transformers pipelines print names."""
    config: dict[str, Any] = {
        "num_labels": len(names),
        "id2label": dict(enumerate(names)),
        "label2id": {name: index for index, name in enumerate(names)},
    }
    if problem_type is not None:
        config["problem_type"] = problem_type
    return config


def softmax(logits: Any) -> Any:
    import numpy as np

    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def sigmoid(logits: Any) -> Any:
    import numpy as np

    return 1.0 / (1.0 + np.exp(-logits))
