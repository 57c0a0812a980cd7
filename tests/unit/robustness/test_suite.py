"""The suite and `tuneforge robustness`: user errors exit 2 naming the option, per-token runs are
refused, and the report (json, md, png, model card) holds the numbers while the terminal shows
no text of the data."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest
from _configs import assert_user_error, bbc_run, invoke

from tuneforge.tasks import get_task


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "300")
    return tmp_path


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--attack", "typos,leetspeak"], ["--attack", "leetspeak", "deepwordbug"]),
        (["--budget", "0"], ["--budget", "at least 1"]),
        (["--max-words-fraction", "1.5"], ["--max-words-fraction"]),
    ],
    ids=["unknown-attack", "zero-budget", "fraction"],
)
def test_suite_cli_bad_options_exit_2(in_tmp, monkeypatch, capsys, args, expected):
    # Checked before the run is read: the folder need not exist.
    code, out, err = invoke(monkeypatch, capsys, "robustness", str(in_tmp / "run"), *args)
    assert_user_error(code, out, err, *expected)


@pytest.mark.parametrize(
    ("task", "expected"),
    [("ner", "every token"), ("multilabel", "one class per text"), ("regression", "one class")],
)
def test_suite_cli_refuses_runs_that_do_not_pick_one_class(
    in_tmp, monkeypatch, capsys, task, expected
):
    import tuneforge.predict
    import tuneforge.run.evaluation

    stub = SimpleNamespace(task=get_task(task), label_names=["O", "B-person", "I-person"])
    config = SimpleNamespace(evaluation=SimpleNamespace(batch_size=8))
    monkeypatch.setattr(tuneforge.run.evaluation, "finished_run_config", lambda run_dir: config)
    monkeypatch.setattr(tuneforge.predict, "load_predictor", lambda *a, **k: stub)

    code, out, err = invoke(monkeypatch, capsys, "robustness", str(in_tmp))
    assert_user_error(code, out, err, task, expected, "classification run")


def test_suite_cli_refuses_a_folder_that_is_not_a_run(in_tmp, monkeypatch, capsys):
    code, out, err = invoke(monkeypatch, capsys, "robustness", str(in_tmp))
    assert_user_error(code, out, err, str(in_tmp), "not a finished run")


def test_suite_writes_report_and_model_card(tmp_path_factory, in_tmp, monkeypatch, capsys):
    run_dir = in_tmp / "run"
    shutil.copytree(bbc_run(tmp_path_factory), run_dir)  # the shared run must stay untouched
    args = ["robustness", str(run_dir), "--attack", "typos,deepwordbug", "--budget", "6"]
    code, out, err = invoke(monkeypatch, capsys, *args, "--max-examples", "6")
    assert code == 0, err

    folder = run_dir / "robustness"
    report = json.loads((folder / "robustness.json").read_text(encoding="utf-8"))
    assert report["examples"] == 6 and set(report["attacks"]) == {"typos", "deepwordbug"}
    for attack in report["attacks"].values():
        assert attack["mean_queries"] <= 6
        assert 0.0 <= attack["accuracy"] <= report["clean_accuracy"]
        assert attack["version"].endswith(".v1")
        assert "examples" not in attack  # the numbers travel (registry); the texts do not
    examples = json.loads((folder / "examples.json").read_text(encoding="utf-8"))
    assert set(examples) == set(report["attacks"])
    summary = (folder / "robustness.md").read_text(encoding="utf-8")
    listed = (folder / "examples.md").read_text(encoding="utf-8")
    assert "[examples.md](examples.md)" in summary
    for example in (example for per_attack in examples.values() for example in per_attack):
        assert example["original"] in listed and example["original"] not in summary
    assert (folder / "robustness.png").stat().st_size > 1000
    card = (run_dir / "model_card.md").read_text(encoding="utf-8")
    assert card.count("## Robustness") == 1
    # The texts of the data go to the report files only, never to the terminal.
    test_text = json.loads((run_dir / "splits" / "test.jsonl").read_text().splitlines()[0])["text"]
    assert test_text[:40] not in out + err

    # A second suite replaces the model card section instead of adding another.
    code, _, err = invoke(monkeypatch, capsys, *args, "--max-examples", "3")
    assert code == 0, err
    card = (run_dir / "model_card.md").read_text(encoding="utf-8")
    assert card.count("## Robustness") == 1 and "on 3 examples" in card
