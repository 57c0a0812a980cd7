"""Named-entity recognition as token classification with IOB2 tags.

Each word's tag is carried by its first sub-token; the other sub-tokens and the special tokens get
the ignore index -100, so the loss and the metrics count every word exactly once (the convention of
the BERT paper's NER experiments). Scores are entity-level (seqeval, strict IOB2).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch

from tuneforge.config import RunConfig
from tuneforge.data.records import Record
from tuneforge.errors import ExplainError
from tuneforge.tasks._distillation import softmax_kl
from tuneforge.tasks._encoding import Features, class_head_config, softmax
from tuneforge.tasks._weighting import LossTerm
from tuneforge.tasks.base import TaskDefaults

IGNORE_INDEX = -100  # torch.nn.CrossEntropyLoss's default ignore_index


def sentence_mean_token_loss(
    model: torch.nn.Module, batch: dict[str, torch.Tensor], outputs: Any, loss: torch.Tensor
) -> torch.Tensor:
    """Each sentence's mean token loss, averaged over sentences.

    The model's own loss averages over every counted token of the batch, so one sentence's
    weight depends on the others' lengths; DP-SGD needs each example's loss to be its own.
    """
    labels = batch["labels"]
    per_token = torch.nn.functional.cross_entropy(
        outputs.logits.float().transpose(1, 2), labels, ignore_index=IGNORE_INDEX, reduction="none"
    )
    counted = (labels != IGNORE_INDEX).sum(dim=1).clamp(min=1)
    return (per_token.sum(dim=1) / counted).mean()


def label_names(train: list[Record], declared: list[str] | None) -> list[str]:
    tags = {tag for record in train for tag in record.label}
    if declared:
        tags |= {tag for tag in declared if tag == "O" or tag[:2] in {"B-", "I-"}}
        for entity_type in (tag for tag in declared if tag != "O" and tag[:2] not in {"B-", "I-"}):
            tags |= {f"B-{entity_type}", f"I-{entity_type}"}
    # "O" first, then B-/I- of each type together: stable ids and readable confusion tables.
    entity_types = sorted({tag[2:] for tag in tags if tag != "O"})
    return ["O"] + [f"{prefix}-{kind}" for kind in entity_types for prefix in ("B", "I")]


def head_config(names: list[str], metadata: dict[str, Any]) -> dict[str, Any]:
    return class_head_config(names)


def encode(
    records: list[Record],
    tokenizer: Any,
    names: list[str],
    max_seq_length: int,
    metadata: dict[str, Any],
) -> list[Features]:
    if not records:
        return []
    words = [list(record.tokens or record.text.split()) for record in records]
    encoded = tokenizer(words, is_split_into_words=True, truncation=True, max_length=max_seq_length)
    keys = [key for key in ("input_ids", "attention_mask", "token_type_ids") if key in encoded]
    index = {name: position for position, name in enumerate(names)}
    features = []
    for row, record in enumerate(records):
        word_ids = encoded.word_ids(row)
        feature = {key: encoded[key][row] for key in keys}
        feature["word_ids"] = word_ids
        feature["num_words"] = len(words[row])
        tags = record.label if isinstance(record.label, tuple) else None
        feature["labels"] = _align_labels(word_ids, tags, index)
        features.append(feature)
    return features


def _align_labels(
    word_ids: list[int | None], tags: tuple[str, ...] | None, index: dict[str, int]
) -> list[int]:
    labels, previous = [], None
    for word_id in word_ids:
        first_sub_token = word_id is not None and word_id != previous
        labels.append(index[tags[word_id]] if first_sub_token and tags else IGNORE_INDEX)
        previous = word_id
    return labels


def word_tags(token_logits: np.ndarray, feature: Features, names: list[str]) -> list[str]:
    """One tag per input word; words cut off by truncation get "O" (and are counted as missed)."""
    tags = ["O"] * feature["num_words"]
    previous = None
    for position, word_id in enumerate(feature["word_ids"]):
        if word_id is not None and word_id != previous:
            tags[word_id] = names[int(token_logits[position].argmax())]
        previous = word_id
    return _repair_iob2(tags)


def _repair_iob2(tags: list[str]) -> list[str]:
    """Start an entity where the model predicted I-X without a preceding B-X/I-X."""
    repaired = []
    for tag in tags:
        if tag.startswith("I-") and (not repaired or repaired[-1][2:] != tag[2:]):
            tag = "B-" + tag[2:]
        repaired.append(tag)
    return repaired


def compute_metrics(
    logits: list[np.ndarray],
    records: list[Record],
    features: list[Features],
    names: list[str],
    metadata: dict[str, Any],
    config: RunConfig,
) -> dict[str, Any]:
    from tuneforge.evaluate import ner_metrics

    predicted = [
        word_tags(row, feature, names) for row, feature in zip(logits, features, strict=True)
    ]
    truth = [list(record.label) for record in records]
    return ner_metrics(truth, predicted)


def split_words(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Whitespace words of a raw text with their character spans."""
    matches = list(re.finditer(r"\S+", text))
    return [match.group() for match in matches], [match.span() for match in matches]


def predict(
    logits: list[np.ndarray],
    texts: list[str],
    features: list[Features],
    names: list[str],
    metadata: dict[str, Any],
) -> list[dict[str, Any]]:
    predictions = []
    for row, text, feature in zip(logits, texts, features, strict=True):
        words, spans = split_words(text)
        tags = word_tags(row, feature, names)
        probabilities = softmax(row)
        first_positions = _first_sub_token_positions(feature["word_ids"])
        entities = []
        for kind, start_word, end_word in _entity_spans(tags):
            scores = [
                probabilities[first_positions[w]].max()
                for w in range(start_word, end_word)
                if w in first_positions
            ]
            start, end = spans[start_word][0], spans[end_word - 1][1]
            entities.append(
                {
                    "entity": kind,
                    "text": text[start:end],
                    "start": start,
                    "end": end,
                    "score": float(np.mean(scores)) if scores else 0.0,
                }
            )
        # Words past the model's window get no sub-token and so the tag O without being read:
        # say how many were read (model.max_seq_length, or long_text: chunks, reads more).
        read = len(first_positions)
        predictions.append(
            {
                "tokens": words,
                "tags": tags,
                "entities": entities,
                "words_read": read,
                "truncated": read < len(words),
            }
        )
    return predictions


def _first_sub_token_positions(word_ids: list[int | None]) -> dict[int, int]:
    positions: dict[int, int] = {}
    for position, word_id in enumerate(word_ids):
        if word_id is not None and word_id not in positions:
            positions[word_id] = position
    return positions


def _entity_spans(tags: list[str]) -> list[tuple[str, int, int]]:
    """(type, first word, one past last word) of each entity in repaired IOB2 tags."""
    spans: list[tuple[str, int, int]] = []
    for position, tag in enumerate(tags):
        if tag.startswith("B-"):
            spans.append((tag[2:], position, position + 1))
        elif tag.startswith("I-") and spans and spans[-1][2] == position:
            kind, start, _ = spans[-1]
            spans[-1] = (kind, start, position + 1)
    return spans


class NerTask(TaskDefaults):
    """Entities in a text: a tag per word (IOB2), scored per entity."""

    name = "ner"
    auto_class = "AutoModelForTokenClassification"
    default_metric = "f1"  # entity-level micro F1, the CoNLL-2003 headline number
    peft_task_type = "TOKEN_CLS"
    class_statistic = "entity_type"
    has_classes = True
    sequence_level = False  # a tag per token: windows would need token-level stitching

    label_names = staticmethod(label_names)
    head_config = staticmethod(head_config)
    encode = staticmethod(encode)
    compute_metrics = staticmethod(compute_metrics)
    predict = staticmethod(predict)

    def stack_logits(self, rows: list[np.ndarray]) -> list[np.ndarray]:
        """Token logits differ in length per example: kept as a list of (length, tags) arrays."""
        return rows

    def unlabelled_record(self, text: str, index: int) -> Record:
        return Record(
            text=text, label=None, source=f"input:{index + 1}", tokens=tuple(text.split())
        )

    def soft_label_loss(
        self,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor,
        temperature: float,
        labels: torch.Tensor | None,
    ) -> torch.Tensor:
        """The classification KL per token, over tokens whose label is not ignored (first
        sub-tokens of words; padding and special tokens carry no prediction)."""
        if labels is None:
            raise ValueError("NER distillation needs the labels to know which tokens count")
        kept = labels != IGNORE_INDEX
        student, teacher = student_logits[kept], teacher_logits[kept]
        if student.numel() == 0:
            return student.float().sum()  # a batch of words all cut off: nothing to match
        return softmax_kl(student, teacher, temperature)

    def per_example_loss_term(self) -> LossTerm:
        return sentence_mean_token_loss

    def observed_classes(self, prediction: dict[str, Any]) -> tuple[str, ...]:
        return tuple(entity["entity"] for entity in prediction["entities"])

    def observed_confidence(self, prediction: dict[str, Any]) -> float | None:
        if not prediction["entities"]:
            return None
        return float(np.mean([entity["score"] for entity in prediction["entities"]]))

    def class_categories(self, names: list[str]) -> list[str]:
        """Entity types (from the B-/I- tags), the categories monitoring counts."""
        return sorted({name.split("-", 1)[1] for name in names if "-" in name})

    def label_items(self, record: Record) -> tuple[str, ...]:
        """The entity types of a tagged sentence (one per B- tag)."""
        return tuple(tag[2:] for tag in record.label or () if tag.startswith("B-"))

    def explained_scores(self, logits: torch.Tensor) -> torch.Tensor:
        raise ExplainError(
            "a NER run has no single score per text: it is explained per entity span "
            "(tuneforge explain --text), and --faithfulness and embed-map work on "
            "classification, multilabel and regression runs."
        )


TASK = NerTask()
