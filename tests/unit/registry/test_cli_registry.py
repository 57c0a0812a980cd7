"""`tuneforge registry ...` and `tuneforge keys ...` as a user runs them: output, exit codes, and
the key secret printed once. In-process through cli.main, exit-code handling included; the
installed command runs in tests/integration/test_registry_crash.py."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from tuneforge.cli import main
from tuneforge.registry import open_registry


def tuneforge(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``tuneforge *args`` run through cli.main."""
    monkeypatch.setattr(sys, "argv", ["tuneforge", *args])
    monkeypatch.setenv("COLUMNS", "300")  # rich must not wrap messages mid-word
    try:
        main()
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def cli(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> object:
    location = str(tmp_path / "registry")
    return lambda *args: tuneforge(monkeypatch, capsys, *args, "--registry", location)


@pytest.mark.usefixtures("no_profile")
def test_cli_registry_push_promote_list_show(cli: object, finished_run: Path) -> None:
    code, _, err = cli("registry", "push", str(finished_run), "--name", "news-topic")
    assert code == 0 and "Pushed news-topic@1 (no stage)" in err, err
    said = " ".join(err.split())
    assert re.search(
        r"Left \d+ file\(s\) holding texts of the data with the run \(.*"
        r"quarantine.jsonl, splits/\); --with-data copies them too",
        said,
    ), said
    assert cli("registry", "push", str(finished_run), "--name", "news-topic")[0] == 0
    assert cli("registry", "promote", "news-topic", "1", "--stage", "production")[0] == 0
    code, _, err = cli("registry", "promote", "news-topic", "2", "--stage", "production")
    assert code == 0 and "news-topic@2 is now production." in err

    code, _, table = cli("registry", "list")
    rows = [line for line in table.splitlines() if "news-topic" in line]
    assert code == 0 and len(rows) == 2
    assert "archived" in rows[0] and "production" in rows[1]
    metrics = json.loads((finished_run / "metrics.json").read_text())["test"]
    assert f"macro_f1 {metrics['macro_f1']:.4f}" in rows[1]

    code, out, _ = cli("registry", "show", "news-topic")
    shown = json.loads(out)
    assert code == 0 and (shown["version"], shown["stage"]) == (2, "production")
    assert shown["lineage"]["weights_sha256"]["model/model.safetensors"]


@pytest.mark.usefixtures("no_profile")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("registry", "show", "news-topic@5"),
            "news-topic has no version 5. Versions of news-topic: 1",
        ),
        (("registry", "show", "nothing"), "No model named 'nothing'"),
        (("registry", "promote", "news-topic", "1", "--stage", "live"), "Unknown stage 'live'"),
        (("registry", "promote", "news-topic", "3", "--stage", "staging"), "has no version 3"),
        (("registry", "list", "Bad_Name"), "Invalid model name 'Bad_Name'"),
        (
            ("registry", "list", "nothing"),
            "No model named 'nothing' in the registry. Models: news-topic.",
        ),
        (("registry", "push", ".", "--name", "x"), "is not a finished tuneforge run"),
        (("registry", "push", "RUN", "--name", "Bad Name"), "Invalid model name"),
        (("keys", "revoke", "0123456789ab"), "No API key with id '0123456789ab'"),
        (("keys", "create", "--tenant", "acme", "--models", ","), "at least one model"),
    ],
)
def test_cli_registry_user_errors_exit_2(
    cli: object, finished_run: Path, args: tuple[str, ...], message: str
) -> None:
    assert cli("registry", "push", str(finished_run), "--name", "news-topic")[0] == 0
    args = tuple(str(finished_run) if arg == "RUN" else arg for arg in args)
    code, out, err = cli(*args)
    assert code == 2, err
    assert "Traceback" not in out + err
    assert err.startswith("error:") and message in err, err


def test_cli_keys_create_list_revoke(cli: object, tmp_path: Path) -> None:
    code, out, err = cli(
        "keys", "create", "--tenant", "acme", "--models", "news-topic,other", "--rate-limit", "600"
    )
    token = out.strip()
    assert code == 0 and token.startswith("tf_") and "\n" not in token
    assert token not in err and "only time the key is shown" in err
    assert "no model named news-topic, other is registered yet" in err

    registry = open_registry(tmp_path / "registry")
    key = registry.authenticate(token)
    assert key is not None and key.rate_limit_per_minute == 600

    code, out, err = cli("keys", "list")
    secret = token.split("_", 2)[2]
    assert code == 0 and key.key_id in err and "acme" in err and "active" in err
    assert secret not in out + err

    assert cli("keys", "revoke", key.key_id)[0] == 0
    assert registry.authenticate(token) is None
    assert "revoked" in cli("keys", "list")[2]
    registry.close()


@pytest.mark.usefixtures("no_profile")
def test_cli_registry_show_prints_the_robustness_summary(cli: object, run_copy: Path) -> None:
    report = {
        "clean_accuracy": 0.9,
        "attacks": {
            "typos": {"accuracy": 0.6, "examples": [{"original": "a text of the user's data"}]}
        },
    }
    (run_copy / "robustness").mkdir()
    (run_copy / "robustness" / "robustness.json").write_text(json.dumps(report))
    assert cli("registry", "push", str(run_copy), "--name", "robust-topic")[0] == 0

    code, out, _ = cli("registry", "show", "robust-topic")
    shown = json.loads(out)
    assert code == 0 and shown["robustness"]["attacks"]["typos"]["accuracy"] == 0.6
    assert "user's data" not in out  # example texts stay in the run's report file


@pytest.mark.usefixtures("no_profile")
def test_cli_registry_show_prints_the_privacy_audit(cli: object, run_copy: Path) -> None:
    report = {"members": 48, "attacks": {"lira": {"auc": 0.71}}, "accountant_epsilon": None}
    (run_copy / "privacy_audit").mkdir()
    (run_copy / "privacy_audit" / "audit.json").write_text(json.dumps(report))
    assert cli("registry", "push", str(run_copy), "--name", "audited-topic")[0] == 0

    code, out, _ = cli("registry", "show", "audited-topic")
    assert code == 0 and json.loads(out)["privacy_audit"]["attacks"]["lira"]["auc"] == 0.71
