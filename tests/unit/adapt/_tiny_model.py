"""The real all-MiniLM-L6-v2 cut to one layer with a seeded head, and one-step training helpers."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import (
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    PreTrainedModel,
)

NUM_LABELS = {"classification": 3, "multilabel": 3, "regression": 1, "ner": 5}
_PROBLEM_TYPES = {
    "classification": "single_label_classification",
    "multilabel": "multi_label_classification",
    "regression": "regression",
}
TEXTS = ["The match ended in a draw at Wembley.", "Shares fell sharply on Monday."]


def load_base(path: Path, task: str, num_hidden_layers: int = 1) -> PreTrainedModel:
    """The real model with a fresh, seeded head for ``task``."""
    torch.manual_seed(0)
    if task == "ner":
        return AutoModelForTokenClassification.from_pretrained(
            path, num_hidden_layers=num_hidden_layers, num_labels=NUM_LABELS[task]
        )
    return AutoModelForSequenceClassification.from_pretrained(
        path,
        num_hidden_layers=num_hidden_layers,
        num_labels=NUM_LABELS[task],
        problem_type=_PROBLEM_TYPES[task],
    )


def optimizer_step(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.optim.Optimizer:
    """One AdamW step (lr 1e-2) on ``batch`` over the trainable parameters; grads are kept."""
    model.train()
    trainable = [param for param in model.parameters() if param.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-2)
    loss = model(**batch).loss
    loss.backward()
    optimizer.step()
    return optimizer


def eval_logits(model: torch.nn.Module, batch: dict[str, torch.Tensor]) -> torch.Tensor:
    inputs = {key: value for key, value in batch.items() if key != "labels"}
    model.eval()
    with torch.no_grad():
        return model(**inputs).logits
