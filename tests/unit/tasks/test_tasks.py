"""Every task end to end on the real 1-layer model: head_config builds a model whose loss accepts
the encoded labels, and forward_logits output feeds compute_metrics and predict."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import transformers

from tuneforge.data.records import Record
from tuneforge.inference import collate, forward_logits
from tuneforge.tasks import TASKS, get_task

transformers.logging.set_verbosity_error()

RECORDS = {
    "classification": [
        Record("Shares fell sharply on Monday.", "business", "t:1"),
        Record("The striker scored twice.", "sport", "t:2"),
        Record("A new phone was unveiled.", "tech", "t:3"),
    ],
    "multilabel": [
        Record("I was charged twice.", ("billing",), "t:1"),
        Record("Charged twice, refund me.", ("billing", "refund"), "t:2"),
        Record("How do I log in?", (), "t:3"),
    ],
    "regression": [
        Record("Terrible.", 1.0, "t:1"),
        Record("Fine, I suppose.", 3.0, "t:2"),
        Record("Wonderful film.", 5.0, "t:3"),
    ],
    "ner": [
        Record(
            "John visited Ouagadougou",
            ("B-PER", "O", "B-LOC"),
            "t:1",
            ("John", "visited", "Ouagadougou"),
        ),
        Record(
            "New York is big", ("B-LOC", "I-LOC", "O", "O"), "t:2", ("New", "York", "is", "big")
        ),
    ],
}


def test_tasks_registry_covers_every_config_task_type():
    from typing import get_args

    from tuneforge.config import TaskType

    assert set(TASKS) == set(get_args(TaskType))
    assert get_task("ner").auto_class == "AutoModelForTokenClassification"
    assert all(task.name == name for name, task in TASKS.items())


@pytest.mark.parametrize(
    ("task_type", "metric"),
    [
        ("classification", "macro_f1"),
        ("multilabel", "micro_f1"),
        ("regression", "r2"),
        ("ner", "f1"),
    ],
)
def test_tasks_default_metric_per_task(task_type, metric) -> None:
    assert get_task(task_type).default_metric == metric


def test_tasks_unknown_type_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="classification"):
        get_task("generation")


@pytest.mark.parametrize("task_type", sorted(TASKS))
def test_tasks_satisfy_the_protocol(task_type) -> None:
    from tuneforge.tasks import Task

    assert isinstance(get_task(task_type), Task)


@pytest.mark.parametrize("task_type", sorted(RECORDS))
def test_tasks_encoded_labels_train_the_head_they_configure(
    minilm_path, tokenizer, make_config, task_type
):
    task = get_task(task_type)
    records = RECORDS[task_type]
    names = task.label_names(records, None)
    metadata = task.fit_metadata(records, names)
    torch.manual_seed(0)
    model = getattr(transformers, task.auto_class).from_pretrained(
        minilm_path, num_hidden_layers=1, **task.head_config(names, metadata)
    )
    features = task.encode(records, tokenizer, names, 32, metadata)
    model_features = [
        {k: v for k, v in f.items() if k not in ("word_ids", "num_words")} for f in features
    ]

    loss = model(**collate(model_features, tokenizer.pad_token_id)).loss
    logits, mean_loss = forward_logits(
        model, model_features, 2, tokenizer.pad_token_id, torch.device("cpu")
    )
    logits = logits if task_type == "ner" else np.stack(logits)
    config = make_config(task_type)
    metrics = task.compute_metrics(logits, records, features, names, metadata, config)
    predictions = task.predict(logits, [r.text for r in records], features, names, metadata)

    assert torch.isfinite(loss) and loss.item() > 0
    assert math.isfinite(mean_loss)
    assert isinstance(metrics[task.default_metric], float)
    assert len(predictions) == len(records)
