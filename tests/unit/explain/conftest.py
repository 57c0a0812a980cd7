"""A toy classifier whose decision depends on one known word: a real (tiny) BERT, trained.

The model is a 1-layer, 32-wide BertForSequenceClassification on the real all-MiniLM-L6-v2
tokenizer, trained for a few hundred steps on a synthetic rule: positive if and only if the text
contains "excellent". A faithful explanation must rank that word first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from ._toy import NER_TAGS, toy_ner_sentences, toy_texts


def _tiny_bert(model_class: Any, tokenizer: Any, num_labels: int) -> torch.nn.Module:
    """A fresh 1-layer, 32-wide BERT of `model_class` on the tokenizer's vocabulary (seed 0)."""
    from transformers import BertConfig

    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=num_labels,
    )
    return model_class(config)


@pytest.fixture(scope="session")
def toy_predictor(minilm_path: Path):
    """A Predictor over the trained toy model (fp32, CPU)."""
    from transformers import AutoTokenizer, BertForSequenceClassification

    from tuneforge.predict import Predictor

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    model = _tiny_bert(BertForSequenceClassification, tokenizer, num_labels=2)
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
def toy_ner_model(minilm_path: Path):
    """A tagger whose entities are decided by the word before them: a 1-layer, 32-wide
    BertForTokenClassification trained (700 steps) to tag the word after "in" as B-loc."""
    from transformers import AutoTokenizer, BertForTokenClassification

    from tuneforge.explain.model import ExplainModel
    from tuneforge.predict import Predictor

    tokenizer = AutoTokenizer.from_pretrained(str(minilm_path))
    model = _tiny_bert(BertForTokenClassification, tokenizer, num_labels=len(NER_TAGS))
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    data = toy_ner_sentences(512, seed=1)
    model.train()
    # Attending to the previous word is slower to learn than a bag of words: 200 steps left
    # every word O; 700 tag a held-out set exactly.
    for step in range(700):
        batch = data[(step * 32) % len(data) :][:32]
        encoded = tokenizer(
            [words for words, _ in batch],
            is_split_into_words=True,
            padding=True,
            return_tensors="pt",
        )
        labels = torch.full(encoded["input_ids"].shape, -100)
        for row, (_, tags) in enumerate(batch):
            previous = None
            for position, word in enumerate(encoded.word_ids(row)):
                if word is not None and word != previous:  # a word's first sub-token (tasks/ner.py)
                    labels[row, position] = NER_TAGS.index(tags[word])
                previous = word
        loss = model(**encoded, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    predictor = Predictor(
        model=model,
        tokenizer=tokenizer,
        task_type="ner",
        label_names=NER_TAGS,
        metadata={},
        max_seq_length=32,
        device=torch.device("cpu"),
    )
    return ExplainModel(predictor=predictor)


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
