"""benchmarks/federated.py's data choice: BBC News through the built-in source, the Rotten
Tomatoes sentences as a balanced CSV written once. Nothing here downloads or trains."""

from __future__ import annotations

import argparse
from pathlib import Path

import benchmarks.rt_sentences
from benchmarks.federated import RT_DEFAULT_ROWS, data_section


def test_federated_benchmark_bbc_is_the_builtin_source(tmp_path: Path) -> None:
    args = argparse.Namespace(dataset="bbc", max_examples=500)
    assert data_section(args, tmp_path) == {"source": "builtin:bbc-news", "max_examples": 500}


def test_federated_benchmark_rt_csv_is_built_once_with_the_asked_rows(
    tmp_path: Path, monkeypatch
) -> None:
    built: list[int | None] = []

    def build(path: Path, *, rows: int | None, seed: int) -> Path:
        built.append(rows)
        path.write_text("text,label\n", encoding="utf-8")
        return path

    monkeypatch.setattr(benchmarks.rt_sentences, "build_rt_sentences", build)
    default = data_section(argparse.Namespace(dataset="rt", max_examples=None), tmp_path)
    again = data_section(argparse.Namespace(dataset="rt", max_examples=None), tmp_path)
    assert default == again == {"source": str(tmp_path / "rt_sentences.csv")}
    assert built == [RT_DEFAULT_ROWS]  # the second contender reuses the file
    (tmp_path / "other").mkdir()
    data_section(argparse.Namespace(dataset="rt", max_examples=600), tmp_path / "other")
    assert built == [RT_DEFAULT_ROWS, 600]
