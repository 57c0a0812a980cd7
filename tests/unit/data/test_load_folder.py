from __future__ import annotations

import pytest

from tuneforge.data import load_records
from tuneforge.errors import DataError


def test_load_folder_labels_come_from_subfolders(tmp_path, make_config):
    for label, name, content in [("sport", "1.txt", b"goal"), ("tech", "2.txt", b"chip\n")]:
        (tmp_path / "news" / label).mkdir(parents=True, exist_ok=True)
        (tmp_path / "news" / label / name).write_bytes(content)
    (tmp_path / "news" / "sport" / "notes.md").write_bytes(b"ignored")
    records, quarantined = load_records("news", make_config("news"))
    assert [(r.text, r.label) for r in records] == [("goal", "sport"), ("chip\n", "tech")]
    assert records[0].source == str(tmp_path / "news" / "sport" / "1.txt")
    assert quarantined == []


def test_load_folder_quarantines_undecodable_and_empty_files(tmp_path, make_config):
    folder = tmp_path / "news" / "money"
    folder.mkdir(parents=True)
    (folder / "a.txt").write_bytes(b"costs \xa3100")
    (folder / "b.txt").write_bytes(b"  \n")
    (folder / "c.txt").write_bytes(b"fine")
    records, quarantined = load_records("news", make_config("news"))
    assert [r.text for r in records] == ["fine"]
    assert [(q.source, q.reason) for q in quarantined] == [
        (str(folder / "a.txt"), "undecodable bytes (utf-8) at byte 6"),
        (str(folder / "b.txt"), "empty text"),
    ]


def test_load_folder_without_label_subfolders_is_an_error(tmp_path, make_config):
    (tmp_path / "flat").mkdir()
    (tmp_path / "flat" / "a.txt").write_text("x")
    with pytest.raises(DataError, match=r"no <label>/\*\.txt files found"):
        load_records("flat", make_config("flat"))


def test_load_folder_for_regression_is_refused(tmp_path, make_config):
    (tmp_path / "news" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match=r"fits task.type classification, not regression"):
        load_records("news", make_config("news", task="regression"))
