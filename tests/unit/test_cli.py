"""The `tuneforge` command: user errors exit 2 with one paragraph naming file, line or field, and
no traceback; --debug shows it.

Most cases call `tuneforge.cli.main` (the console-script entry point) in-process with a patched
argv, which exercises its exit-code handling without paying for a Python start per case; a few
run the installed command in a subprocess, the truest check of what a user sees.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from _configs import (
    assert_user_error,
    bbc_articles,
    invoke,
    run_cli,
    tiny_config,
    write_bbc_csv,
    write_yaml,
)

from tuneforge.config import load_config


def write_csv(path: Path, header: str, rows: list[tuple[str, str]]) -> Path:
    import csv
    import io

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def config_for(tmp_path: Path, source: str, name: str = "cfg", **sections: dict) -> Path:
    raw = tiny_config(tmp_path / "runs", data={"source": source, "max_examples": None}, **sections)
    return write_yaml(tmp_path / f"{name}.yaml", raw)


@pytest.fixture
def in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run in tmp_path offline, so nothing lands in the repo and nothing reaches the hub."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("COLUMNS", "300")
    return tmp_path


@pytest.fixture(scope="module")
def articles(bbc_news_dir: Path) -> list[tuple[str, str]]:
    """12 real BBC articles of each of the five topics."""
    return bbc_articles(bbc_news_dir, per_topic=12)


def test_cli_missing_config_file_subprocess(tmp_path: Path) -> None:
    result = run_cli("train", "nothere.yaml", cwd=tmp_path)

    assert_user_error(result.returncode, result.stdout, result.stderr, "nothere.yaml", "init")


def test_cli_debug_shows_the_traceback_subprocess(tmp_path: Path) -> None:
    result = run_cli("--debug", "train", "nothere.yaml", cwd=tmp_path)

    assert result.returncode != 0
    assert "Traceback" in result.stderr
    assert "ConfigError" in result.stderr and "nothere.yaml" in result.stderr


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train"], "Missing argument"),
        # click words it "No such option: --bogus" or "No such option '--bogus'" by version
        # (typer 0.29 bundles its own click; the federated extra pins typer < 0.21).
        (["train", "cfg.yaml", "--bogus"], "No such option"),
        (["predict"], "Missing argument"),
    ],
)
def test_cli_usage_error_exits_2_without_traceback_subprocess(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    result = run_cli(*args, cwd=tmp_path)

    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert expected in result.stderr


def test_cli_config_typo_suggests_the_key(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_yaml(
        in_tmp / "typo.yaml", {"data": {"source": "x.csv"}, "training": {"learning_rte": 3e-5}}
    )

    code, out, err = invoke(monkeypatch, capsys, "train", str(config))

    assert_user_error(
        code, out, err, "typo.yaml", "training.learning_rte", "did you mean training.learning_rate"
    )


def test_cli_bad_override_value_names_the_field(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_for(in_tmp, "data.csv")

    code, out, err = invoke(
        monkeypatch, capsys, "train", str(config), "--set", "training.epochs=lots"
    )

    assert_user_error(code, out, err, "training.epochs", "'lots'")


def test_cli_missing_data_file_names_the_resolved_path(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_for(in_tmp, "data/[old]/train.csv")

    code, out, err = invoke(monkeypatch, capsys, "train", str(config))

    # The brackets must survive the console's markup parser.
    assert_user_error(code, out, err, "data.source", str(in_tmp / "data/[old]/train.csv"))


def test_cli_wrong_column_lists_the_columns(
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    articles: list[tuple[str, str]],
) -> None:
    write_csv(in_tmp / "news.csv", "body,topic", articles)
    config = config_for(in_tmp, "news.csv")

    code, out, err = invoke(monkeypatch, capsys, "train", str(config))

    assert_user_error(code, out, err, "news.csv", "'text'", "data.text_column", "'body'", "'topic'")


def test_cli_empty_data_file(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (in_tmp / "empty.csv").write_text("", encoding="utf-8")
    config = config_for(in_tmp, "empty.csv")

    code, out, err = invoke(monkeypatch, capsys, "train", str(config))

    assert_user_error(code, out, err, str(in_tmp / "empty.csv"), "empty")


def test_cli_one_class_only(
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    articles: list[tuple[str, str]],
) -> None:
    sport = [(text, topic) for text, topic in articles if topic == "sports"]
    write_csv(in_tmp / "sport.csv", "text,label", sport)
    config = config_for(in_tmp, "sport.csv")

    code, out, err = invoke(monkeypatch, capsys, "train", str(config))

    assert_user_error(code, out, err, "sport.csv", "one class only", "'sports'")


def test_cli_nan_labels_are_quarantined_by_data_inspect(
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    articles: list[tuple[str, str]],
) -> None:
    # Every 6th row loses its label: NaN (pandas), empty (Excel) or NA (R).
    markers = ["NaN", "", "NA"]
    rows = [
        (text, markers[(index // 6) % 3] if index % 6 == 5 else topic)
        for index, (text, topic) in enumerate(articles)
    ]
    write_csv(in_tmp / "news.csv", "text,label", rows)
    config = config_for(in_tmp, "news.csv")

    code, _, err = invoke(monkeypatch, capsys, "data", "inspect", str(config))

    assert code == 0, err
    quarantine = in_tmp / "runs/run-data/quarantine.jsonl"
    entries = [json.loads(line) for line in quarantine.read_text(encoding="utf-8").splitlines()]
    missing = [entry for entry in entries if "label" in entry["reason"]]
    # CSV line = row index + 2 (the header is line 1).
    expected_lines = {index + 2 for index in range(len(rows)) if index % 6 == 5}
    assert {int(entry["source"].rsplit(":", 1)[1]) for entry in missing} == expected_lines
    report = json.loads((in_tmp / "runs/run-data/data_report.json").read_text(encoding="utf-8"))
    assert report["quarantine"]["total"] >= len(expected_lines)


def test_cli_all_labels_nan_is_an_error(
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    articles: list[tuple[str, str]],
) -> None:
    write_csv(in_tmp / "news.csv", "text,label", [(text, "NaN") for text, _ in articles[:20]])
    config = config_for(in_tmp, "news.csv")

    code, out, err = invoke(monkeypatch, capsys, "train", str(config))

    assert_user_error(code, out, err, "news.csv", "20 missing label", "quarantine.jsonl")


def test_cli_undecodable_bytes_give_the_line(
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    articles: list[tuple[str, str]],
) -> None:
    write_csv(in_tmp / "news.csv", "text,label", articles[:10])
    lines = (in_tmp / "news.csv").read_bytes().split(b"\n")
    lines[7] = lines[7].replace(b" ", b" caf\xe9 ", 1)  # a cp1252 e-acute in a UTF-8 file
    (in_tmp / "news.csv").write_bytes(b"\n".join(lines))
    config = config_for(in_tmp, "news.csv")

    code, out, err = invoke(monkeypatch, capsys, "train", str(config))

    assert_user_error(code, out, err, f"{in_tmp / 'news.csv'}:8:", "0xe9", "data.encoding")


def test_cli_unknown_model_offline(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_for(in_tmp, "builtin:bbc-news", model={"name": "acme/no-such-model"})

    code, out, err = invoke(monkeypatch, capsys, "train", str(config))

    assert_user_error(code, out, err, "model.name", "acme/no-such-model", "HF_HUB_OFFLINE")


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_cli_evaluate_and_predict_refuse_a_folder_that_is_not_a_run(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], command: str
) -> None:
    folder = in_tmp / "not_a_run"
    folder.mkdir()
    (folder / "notes.txt").write_text("hello", encoding="utf-8")
    extra = ["--text", "Shares fell."] if command == "predict" else []

    code, out, err = invoke(monkeypatch, capsys, command, str(folder), *extra)

    assert_user_error(code, out, err, str(folder))
    assert out == ""


def test_cli_predict_needs_text_or_input(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(monkeypatch, capsys, "predict", str(in_tmp))

    assert_user_error(code, out, err, "--text", "--input")


def test_cli_init_writes_a_config_that_validates(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = invoke(monkeypatch, capsys, "init", "--task", "ner", "-o", "x.yaml")

    assert code == 0, err
    config = load_config(in_tmp / "x.yaml")
    assert config.task.type == "ner"
    code, out, err = invoke(monkeypatch, capsys, "init", "--task", "ner", "-o", "x.yaml")
    assert_user_error(code, out, err, "x.yaml", "--force")


def test_cli_init_unknown_task(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = invoke(monkeypatch, capsys, "init", "--task", "translation", "-o", "x.yaml")

    assert_user_error(code, out, err, "'translation'", "classification")
    assert not (in_tmp / "x.yaml").exists()


def test_cli_ctrl_c_outside_training_exits_130(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tuneforge.pipeline

    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(tuneforge.pipeline, "run", interrupted)
    config = config_for(in_tmp, "builtin:bbc-news")

    code, out, err = invoke(monkeypatch, capsys, "train", str(config))

    assert code == 130
    assert "Traceback" not in out + err
    assert "Interrupted" in err


def test_cli_training_interrupted_tells_to_resume(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import tuneforge.pipeline
    from tuneforge.training import TrainingInterrupted

    def interrupted(*args: object, **kwargs: object) -> None:
        raise TrainingInterrupted("Interrupted at step 3/10; checkpoint saved.")

    monkeypatch.setattr(tuneforge.pipeline, "run", interrupted)
    config = config_for(in_tmp, "builtin:bbc-news")

    code, _, err = invoke(monkeypatch, capsys, "train", str(config))

    assert code == 130
    assert "step 3/10" in err and "--resume" in err


def test_cli_data_error_leaves_no_run_to_resume(
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    bbc_news_dir: Path,
) -> None:
    """After fixing the data, the same `train` command must not ask for --resume/--overwrite."""
    config = config_for(in_tmp, "news.csv", training={"max_steps": 1})
    code, out, err = invoke(monkeypatch, capsys, "train", str(config))
    assert_user_error(code, out, err, "news.csv")
    write_bbc_csv(in_tmp / "news.csv", bbc_news_dir, per_topic=10)

    code, _, err = invoke(monkeypatch, capsys, "train", str(config))

    assert code == 0, err
    assert (in_tmp / "runs/run/metrics.json").is_file()


def anonymizing_config(tmp_path: Path, settings: dict[str, object]) -> Path:
    data = {"source": "news.csv", "max_examples": None, "anonymization": settings}
    return write_yaml(tmp_path / "cfg.yaml", tiny_config(tmp_path / "runs", data=data))


def test_cli_anonymize_unknown_entity_suggests_the_name(
    in_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = anonymizing_config(in_tmp, {"entities": ["PHONE"]})

    code, out, err = invoke(monkeypatch, capsys, "data", "anonymize", str(config))

    assert_user_error(code, out, err, "data.anonymization", "'PHONE'", "PHONE_NUMBER")


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (
            {"enabled": True, "strategy": "pseudonym", "salt_env": "TUNEFORGE_NO_SUCH_SALT"},
            ("data.anonymization.salt_env", "TUNEFORGE_NO_SUCH_SALT"),
        ),
        (
            {"enabled": True, "spacy_model": "xx_missing_model"},
            ("data.anonymization.spacy_model", "xx_missing_model", "tuneforge[privacy]"),
        ),
    ],
)
def test_cli_anonymize_missing_salt_or_model(
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    articles: list[tuple[str, str]],
    settings: dict[str, str],
    expected: tuple[str, ...],
) -> None:
    pytest.importorskip("presidio_analyzer", reason="needs tuneforge[privacy]")
    monkeypatch.delenv("TUNEFORGE_NO_SUCH_SALT", raising=False)
    write_csv(in_tmp / "news.csv", "text,label", articles)
    config = anonymizing_config(in_tmp, settings)

    code, out, err = invoke(monkeypatch, capsys, "train", str(config))

    assert_user_error(code, out, err, *expected)
    assert not list((in_tmp / "runs").rglob("*.jsonl"))


def test_cli_data_anonymize_dry_run_writes_nothing(
    in_tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    articles: list[tuple[str, str]],
) -> None:
    pytest.importorskip("presidio_analyzer", reason="needs tuneforge[privacy]")
    pii = " Contact Jane Porter at jane.porter@example.com."
    rows = [
        (text + pii, topic) if i % 4 == 0 else (text, topic)
        for i, (text, topic) in enumerate(articles)
    ]
    write_csv(in_tmp / "news.csv", "text,label", rows)
    config = config_for(in_tmp, "news.csv")

    code, out, err = invoke(monkeypatch, capsys, "data", "anonymize", str(config), "--dry-run")

    assert code == 0, err
    assert "PII anonymisation" in err and "EMAIL_ADDRESS" in err and "xxxx.xxxxxx@" in err
    assert "jane.porter@example.com" not in out + err
    assert not (in_tmp / "runs").exists()

    code, out, err = invoke(monkeypatch, capsys, "data", "anonymize", str(config))

    assert code == 0, err
    folder = in_tmp / "runs" / "run-data"
    report = json.loads((folder / "anonymization_report.json").read_text(encoding="utf-8"))
    assert report["totals"]["EMAIL_ADDRESS"] == 15
    for path in folder.rglob("*"):
        if path.is_file():
            assert b"jane.porter@example.com" not in path.read_bytes(), path
    assert "<EMAIL_ADDRESS>" in (folder / "anonymized" / "train.jsonl").read_text(encoding="utf-8")
