from __future__ import annotations

import logging
import re

import pytest

from tuneforge.data import load_records
from tuneforge.data._conll import repair_iob2
from tuneforge.errors import DataError

from .conftest import write


def test_load_conll_splits_sentences_on_blank_and_whitespace_lines(tmp_path, make_config):
    content = (
        "-DOCSTART- -X- O\n\nJohn\tB-PER\nlives\tO\n\t\n  \n"
        "in NNP B-NP B-LOC\nParis NNP I-NP I-LOC\n"
    )
    path = write(tmp_path / "d.conll", content)
    records, quarantined = load_records("d.conll", make_config("d.conll", task="ner"))
    assert quarantined == []
    assert [(r.text, r.tokens, r.label, r.source) for r in records] == [
        ("John lives", ("John", "lives"), ("B-PER", "O"), f"{path}:3"),
        # More than two columns: the first is the token, the last the tag.
        ("in Paris", ("in", "Paris"), ("B-LOC", "I-LOC"), f"{path}:7"),
    ]


def test_load_conll_repairs_iob1_tags_and_logs_the_count(tmp_path, make_config, caplog):
    write(tmp_path / "d.bio", "New I-LOC\nYork I-LOC\nand O\nBob I-PER\nAnn I-PER\nBen B-PER\n")
    with caplog.at_level(logging.WARNING, logger="tuneforge.data"):
        records, _ = load_records("d.bio", make_config("d.bio", task="ner"))
    assert records[0].label == ("B-LOC", "I-LOC", "O", "B-PER", "I-PER", "B-PER")
    assert "2 I- tags started an entity" in caplog.text


def test_load_conll_one_column_line_names_file_and_line(tmp_path, make_config):
    path = write(tmp_path / "d.txt", "a O\nb O\n\nlonely\n")
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}:4: expected a token and its tag"):
        load_records("d.txt", make_config("d.txt", task="ner"))


def test_load_conll_rejects_non_iob2_tag(tmp_path, make_config):
    path = write(tmp_path / "d.iob", "a O\nb S-PER\n")
    with pytest.raises(DataError, match=rf"{re.escape(str(path))}:2: tag 'S-PER' is not IOB2"):
        load_records("d.iob", make_config("d.iob", task="ner"))


def test_load_conll_with_classification_task_is_refused(tmp_path, make_config):
    write(tmp_path / "d.conll", "a O\n")
    with pytest.raises(DataError, match=r"task.type is classification"):
        load_records("d.conll", make_config("d.conll"))


@pytest.mark.parametrize(
    ("tags", "expected", "count"),
    [
        (["I-A", "I-A", "O"], ("B-A", "I-A", "O"), 1),
        (["B-A", "I-B", "I-B"], ("B-A", "B-B", "I-B"), 1),
        (["B-A", "I-A", "O", "I-A"], ("B-A", "I-A", "O", "B-A"), 1),
        (["O", "B-A", "I-A"], ("O", "B-A", "I-A"), 0),
    ],
)
def test_load_conll_repair_iob2_rewrites_only_entity_starts(tags, expected, count):
    assert repair_iob2(tags) == (expected, count)
