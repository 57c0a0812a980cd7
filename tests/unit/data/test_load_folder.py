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


def test_folder_names_the_files_it_does_not_read(tmp_path, make_config, caplog):
    import logging

    for label in ("pos", "neg"):
        (tmp_path / "d" / label).mkdir(parents=True)
        (tmp_path / "d" / label / "1.txt").write_text(f"{label} text", encoding="utf-8")
    (tmp_path / "d" / "neg" / "deeper").mkdir()
    (tmp_path / "d" / "neg" / "deeper" / "2.txt").write_text("nested", encoding="utf-8")
    (tmp_path / "d" / "pos" / "notes.csv").write_text("a,b", encoding="utf-8")
    (tmp_path / "d" / "pos" / ".DS_Store").write_text("x", encoding="utf-8")  # hidden: silent
    with caplog.at_level(logging.WARNING):
        records, _ = load_records("d", make_config("d"))
    assert len(records) == 2
    assert "2 file(s) are not <label>/*.txt and are not read: neg/deeper/2.txt, pos/notes.csv" in (
        caplog.text
    )
