"""NER task: tag set, first-sub-token label alignment, IOB2 repair, entities with offsets."""

from __future__ import annotations

import numpy as np
import pytest

from tuneforge.data.records import Record
from tuneforge.tasks import ner

NAMES = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
TAG = {name: index for index, name in enumerate(NAMES)}


def _record(words: str, tags: str) -> Record:
    tokens = tuple(words.split())
    return Record(" ".join(tokens), tuple(tags.split()), "n:1", tokens=tokens)


def test_ner_label_names_o_first_then_pairs():
    train = [_record("John went to Paris", "B-PER O O B-LOC")]

    assert ner.label_names(train, None) == NAMES
    # Declared bare types and single tags both add the B-/I- pair of their type.
    assert ner.label_names(train, ["ORG", "B-MISC"]) == [
        "O",
        "B-LOC",
        "I-LOC",
        "B-MISC",
        "I-MISC",
        "B-ORG",
        "I-ORG",
        "B-PER",
        "I-PER",
    ]


def test_ner_head_config():
    head = ner.head_config(NAMES, {})

    assert head["num_labels"] == 5
    assert head["id2label"][3] == "B-PER"
    assert head["label2id"]["I-LOC"] == 2


def test_ner_encode_labels_first_sub_token_only(tokenizer):
    record = _record("John visited Ouagadougou", "B-PER O B-LOC")

    (feature,) = ner.encode([record], tokenizer, NAMES, 32, {})

    tokens = tokenizer.convert_ids_to_tokens(feature["input_ids"])
    assert tokens == ["[CLS]", "john", "visited", "ou", "##aga", "##dou", "##go", "##u", "[SEP]"]
    ignore = ner.IGNORE_INDEX
    assert feature["labels"] == [ignore, 3, 0, 1, ignore, ignore, ignore, ignore, ignore]
    assert feature["word_ids"] == [None, 0, 1, 2, 2, 2, 2, 2, None]
    assert feature["num_words"] == 3


def test_ner_encode_truncation_and_unlabelled(tokenizer):
    record = _record("Paris and Ouagadougou today", "B-LOC O B-LOC O")
    unlabelled = Record("Paris and Ouagadougou today", None, "n:2")

    truncated, plain = ner.encode([record, unlabelled], tokenizer, NAMES, 5, {})

    assert len(truncated["input_ids"]) == 5
    assert truncated["labels"] == [-100, 1, 0, 1, -100]
    assert plain["labels"] == [-100] * 5
    # The word cut off by truncation is predicted "O" (counted as a missed entity, never dropped).
    logits = np.zeros((5, len(NAMES)))
    logits[1:4, TAG["B-LOC"]] = 5.0
    assert ner.word_tags(logits, truncated, NAMES) == ["B-LOC", "B-LOC", "B-LOC", "O"]
    # ... and the prediction says it was not read.
    (prediction,) = ner.predict([logits], [record.text], [truncated], NAMES, {})
    assert prediction["words_read"] == 3 and prediction["truncated"] is True


@pytest.mark.parametrize(
    ("tags", "repaired"),
    [
        (["O", "I-PER", "I-PER", "O"], ["O", "B-PER", "I-PER", "O"]),
        (["I-LOC"], ["B-LOC"]),
        (["B-PER", "I-LOC", "I-LOC"], ["B-PER", "B-LOC", "I-LOC"]),
        (["B-PER", "I-PER", "B-PER"], ["B-PER", "I-PER", "B-PER"]),
    ],
)
def test_ner_repair_iob2(tags, repaired):
    assert ner._repair_iob2(tags) == repaired


def _logits_for(feature: dict, word_tags: list[str], noise_tag: str = "B-PER") -> np.ndarray:
    """5.0 on the wanted tag at each word's first sub-token; `noise_tag` everywhere else, which
    the task must ignore (special tokens and later sub-tokens)."""
    logits = np.zeros((len(feature["input_ids"]), len(NAMES)))
    logits[:, TAG[noise_tag]] = 5.0
    previous = None
    for position, word_id in enumerate(feature["word_ids"]):
        if word_id is not None and word_id != previous:
            logits[position] = 0.0
            logits[position, TAG[word_tags[word_id]]] = 5.0
        previous = word_id
    return logits


def test_ner_predict_entities_with_character_offsets(tokenizer):
    text = "John  lives in New York near Ouagadougou"
    (feature,) = ner.encode([Record(text, None, "n:3")], tokenizer, NAMES, 32, {})
    # John is predicted I-PER without a B-PER: repaired to a PER entity starting there.
    logits = _logits_for(feature, ["I-PER", "O", "O", "B-LOC", "I-LOC", "O", "B-LOC"])

    (prediction,) = ner.predict([logits], [text], [feature], NAMES, {})

    assert prediction["tokens"] == ["John", "lives", "in", "New", "York", "near", "Ouagadougou"]
    assert prediction["tags"] == ["B-PER", "O", "O", "B-LOC", "I-LOC", "O", "B-LOC"]
    assert prediction["words_read"] == 7 and prediction["truncated"] is False
    entities = [(e["entity"], e["text"], e["start"], e["end"]) for e in prediction["entities"]]
    assert entities == [
        ("PER", "John", 0, 4),
        ("LOC", "New York", 15, 23),
        ("LOC", "Ouagadougou", 29, 40),
    ]
    for entity in prediction["entities"]:
        assert text[entity["start"] : entity["end"]] == entity["text"]
        assert entity["score"] == pytest.approx(np.exp(5.0) / (np.exp(5.0) + 4.0))


def test_ner_compute_metrics_perfect_and_missed(tokenizer, make_config):
    records = [
        _record("John visited Ouagadougou", "B-PER O B-LOC"),
        _record("New York is big", "B-LOC I-LOC O O"),
    ]
    features = ner.encode(records, tokenizer, NAMES, 32, {})
    config = make_config("ner")
    gold = [list(record.label) for record in records]

    perfect = ner.compute_metrics(
        [_logits_for(f, tags) for f, tags in zip(features, gold, strict=True)],
        records,
        features,
        NAMES,
        {},
        config,
    )
    # "New" alone: the LOC entity's right boundary is wrong, so strict matching misses it.
    partial_tags = [gold[0], ["B-LOC", "O", "O", "O"]]
    partial = ner.compute_metrics(
        [_logits_for(f, tags) for f, tags in zip(features, partial_tags, strict=True)],
        records,
        features,
        NAMES,
        {},
        config,
    )

    assert perfect["f1"] == 1.0
    assert perfect["accuracy"] == 1.0
    assert perfect["per_type"]["LOC"]["support"] == 2
    assert partial["precision"] == pytest.approx(2 / 3)
    assert partial["recall"] == pytest.approx(2 / 3)
