"""A toy classifier whose decision depends on one known word: a real (tiny) BERT, trained.

The model is a 1-layer, 32-wide BertForSequenceClassification on the real all-MiniLM-L6-v2
tokenizer, trained for a few hundred steps on a synthetic rule: positive if and only if the text
contains "excellent". A faithful explanation must rank that word first.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from ._toy import toy_texts


@pytest.fixture(scope="session")
def toy_predictor(minilm_path: Path):
    """A Predictor over the trained toy model (fp32, CPU)."""
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    from tuneforge.predict import Predictor

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=2,
    )
    model = BertForSequenceClassification(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = toy_texts(512, seed=1)
    model.train()
    for step in range(160):
        batch = data[(step * 32) % len(data) :][:32]
        encoded = tokenizer([t for t, _ in batch], padding=True, return_tensors="pt")
        loss = model(**encoded, labels=torch.tensor([label for _, label in batch])).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return Predictor(
        model=model,
        tokenizer=tokenizer,
        task_type="classification",
        label_names=["other", "praise"],
        metadata={},
        max_seq_length=32,
        device=torch.device("cpu"),
    )


@pytest.fixture(scope="session")
def toy_model(toy_predictor):
    from tuneforge.explain.model import ExplainModel

    return ExplainModel(predictor=toy_predictor)


@pytest.fixture(scope="session")
def minilm_model(minilm_path: Path):
    """The real all-MiniLM-L6-v2 cut to one layer with a fresh 3-class head (smooth, unlike the
    toy model, whose decision is nearly a step along the IG path)."""
    from tuneforge.explain.model import ExplainModel
    from tuneforge.modeling import load_task_model, load_tokenizer
    from tuneforge.predict import Predictor
    from tuneforge.tasks import get_task

    torch.manual_seed(0)
    task = get_task("classification")
    names = ["a", "b", "c"]
    model = load_task_model(task, str(minilm_path), names, {}, num_hidden_layers=1).eval()
    predictor = Predictor(
        model=model,
        tokenizer=load_tokenizer(str(minilm_path)),
        task_type="classification",
        label_names=names,
        metadata={},
        max_seq_length=32,
        device=torch.device("cpu"),
    )
    return ExplainModel(predictor=predictor)
