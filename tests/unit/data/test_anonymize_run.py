"""A whole run with data.anonymization: no raw PII value in any file of the run folder (bytes,
so safetensors, JSON, YAML and PNG metadata alike) nor in what the run printed or logged."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pytest
from _configs import bbc_articles, tiny_config

from tuneforge.config import AnonymizationConfig, config_from_dict
from tuneforge.data._cjk_pii import resident_id_check_char
from tuneforge.data.anonymize import Anonymizer
from tuneforge.pipeline import run
from tuneforge.run.evaluation import evaluate_run

faker = pytest.importorskip("faker", reason="needs tuneforge[test]")
pytest.importorskip("presidio_analyzer", reason="needs tuneforge[privacy]")

SALT_ENV = "TUNEFORGE_TEST_RUN_SALT"
SALT = "run-test-salt-7c1e"


def with_seeded_pii(texts: list[str]) -> list[tuple[str, list[str]]]:
    """Each text with a sentence of Faker (seed 0) PII appended, and the raw values. A sentence
    is kept only when the anonymiser finds all its values in that text (else the next fake is
    tried): this test checks that what is found never leaks anywhere; how much is found
    (recall) is measured by benchmarks/pii.py."""
    fake = faker.Faker("en_US")
    fake.seed_instance(0)
    check = Anonymizer(AnonymizationConfig(enabled=True))
    out = []
    for text in texts:
        while True:
            name = fake.name()
            email = fake.email()
            phone = (
                f"({fake.random_int(201, 989)}) {fake.random_int(201, 989)}-{fake.numerify('####')}"
            )
            card = fake.credit_card_number(card_type="visa16")
            values = [name, email, phone, card]
            full = f"{text} Customer {name} ({email}, {phone}) paid with card {card}."
            if not any(v in check.anonymize_text(full, "x", "x") for v in values):
                out.append((full, values))
                break
    return out


def chinese_pii() -> list[tuple[str, list[str]]]:
    first17 = "44030419900307123"
    resident_id = first17 + resident_id_check_char(first17)
    return [
        (f"客户手机13912345678，身份证号{resident_id}，已核实。", ["13912345678", resident_id]),
        ("请发邮件到wang.fang@example.cn联系我们。", ["wang.fang@example.cn"]),
    ]


def test_anonymize_run_folder_and_logs_hold_no_raw_pii(
    tmp_path: Path,
    bbc_news_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(SALT_ENV, SALT)
    caplog.set_level(logging.DEBUG)
    articles = bbc_articles(bbc_news_dir, per_topic=8)
    rows = [(" ".join(text.split()[:25]), topic) for text, topic in articles]
    leaks = with_seeded_pii([text for text, _ in rows[:36:3]])
    for i, (text, _) in enumerate(leaks):
        rows[i * 3] = (text, rows[i * 3][1])
    for i, (sentence, _) in enumerate(chinese_pii()):
        rows[1 + i * 3] = (f"{rows[1 + i * 3][0]} {sentence}", rows[1 + i * 3][1])
    leaks += chinese_pii()
    rows.append(rows[0])  # a duplicate with PII: it must reach quarantine.jsonl anonymised
    source = tmp_path / "news.csv"

    with source.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *rows])
    settings = {"enabled": True, "strategy": "pseudonym", "salt_env": SALT_ENV}
    raw = tiny_config(
        tmp_path / "runs",
        data={"source": str(source), "max_examples": None, "anonymization": settings},
    )
    result = run(config_from_dict(raw), show_progress=False)

    captured = capsys.readouterr()
    printed = (captured.out + captured.err + caplog.text).encode()
    files = [p for p in result.run_dir.rglob("*") if p.is_file()]
    assert any(p.suffix == ".safetensors" for p in files) and any(p.suffix == ".png" for p in files)
    values = [value for _, found in leaks for value in found] + [SALT]
    for path in files:
        content = path.read_bytes()
        for value in values:
            for form in (value.encode(), json.dumps(value).encode()):
                assert form not in content, f"{value!r} in {path.relative_to(result.run_dir)}"
    for value in values:
        assert value.encode() not in printed, f"{value!r} printed or logged"

    # An evaluation file is anonymised too: its skipped rows are written into the run folder.
    evaluation = tmp_path / "more.csv"
    extra = [(leaks[0][0], rows[0][1]), (leaks[1][0], "")]  # the second has no label: skipped
    with evaluation.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([("text", "label"), *extra])
    evaluate_run(result.run_dir, evaluation)
    skipped = (result.run_dir / "evaluation_more_quarantine.jsonl").read_text("utf-8")
    assert "<PERSON_" in skipped
    for value in values:
        assert value not in skipped

    report = json.loads((result.run_dir / "anonymization_report.json").read_text("utf-8"))
    assert report["totals"]["PERSON"] >= 12 and report["totals"]["CN_RESIDENT_ID"] == 1
    quarantine = (result.run_dir / "quarantine.jsonl").read_text("utf-8")
    assert "<PERSON_" in quarantine
