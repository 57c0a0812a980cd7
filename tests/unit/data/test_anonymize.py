"""data.anonymization: strategies, salted pseudonyms, custom recognisers, NER alignment, config
errors, offline set-up, and the data stage anonymising before cleaning and quarantine."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tuneforge.config import AnonymizationConfig, RunConfig, config_from_dict
from tuneforge.data import prepare_dataset
from tuneforge.data.anonymize import Anonymizer, pseudonym, value_shape
from tuneforge.errors import ConfigError

pytest.importorskip("presidio_analyzer", reason="needs tuneforge[privacy]")

SALT_ENV = "TUNEFORGE_TEST_PII_SALT"
TEXT = (
    "Please ask John Smith to write to john.smith@example.com or call (415) 555-0132; "
    "card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32, host 192.168.10.20."
)
RAW_VALUES = (
    "John Smith",
    "john.smith@example.com",
    "(415) 555-0132",
    "4111 1111 1111 1111",
    "GB82 WEST 1234 5698 7654 32",
    "192.168.10.20",
)


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Anonymisation must work offline: any connection attempt fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("anonymisation tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)


def anonymizer(**settings: Any) -> Anonymizer:
    return Anonymizer(AnonymizationConfig(enabled=True, **settings))


def test_anonymize_replace_removes_every_raw_value() -> None:
    out = anonymizer().anonymize_text(TEXT, "train", "f:1")
    for value in RAW_VALUES:
        assert value not in out
    for token in ("<PERSON>", "<EMAIL_ADDRESS>", "<CREDIT_CARD>", "<IBAN_CODE>", "<IP_ADDRESS>"):
        assert token in out


def test_anonymize_mask_keeps_length_and_redact_removes() -> None:
    text = "Write to john.smith@example.com please."
    masked = anonymizer(strategy="mask", mask_char="#").anonymize_text(text, "train", "f:1")
    assert masked == "Write to " + "#" * len("john.smith@example.com") + " please."
    redacted = anonymizer(strategy="redact").anonymize_text(text, "train", "f:1")
    assert redacted == "Write to  please."


def test_anonymize_pseudonym_same_value_same_token_salted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SALT_ENV, "salt-one")
    first = anonymizer(strategy="pseudonym", salt_env=SALT_ENV)
    a = first.anonymize_text("Mail john.smith@example.com now.", "train", "f:1")
    b = first.anonymize_text("Again: john.smith@example.com.", "train", "f:2")
    other = first.anonymize_text("Mail jane.doe@example.com now.", "train", "f:3")
    token = pseudonym("EMAIL_ADDRESS", "john.smith@example.com", b"salt-one")
    assert token.startswith("<EMAIL_ADDRESS_") and token in a and token in b
    assert token not in other
    monkeypatch.setenv(SALT_ENV, "salt-two")
    second = anonymizer(strategy="pseudonym", salt_env=SALT_ENV)
    c = second.anonymize_text("Mail john.smith@example.com now.", "train", "f:1")
    assert token not in c and "<EMAIL_ADDRESS_" in c


def test_anonymize_pseudonym_needs_the_salt_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SALT_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"salt_env.*{SALT_ENV}"):
        anonymizer(strategy="pseudonym", salt_env=SALT_ENV)
    with pytest.raises(ValueError, match="needs salt_env"):
        AnonymizationConfig(enabled=True, strategy="pseudonym")


def test_anonymize_unknown_entity_suggests_a_name() -> None:
    with pytest.raises(ConfigError, match=r"unknown entity 'EMAIL' \(did you mean EMAIL_ADDRESS"):
        config_from_dict({"data": {"anonymization": {"entities": ["EMAIL"]}}})
    with pytest.raises(ConfigError, match=r"unknown key data\.anonymization\.stratgy"):
        config_from_dict({"data": {"anonymization": {"stratgy": "mask"}}})


def test_anonymize_missing_spacy_model_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"spacy_model.*not installed.*tuneforge\[privacy\]"):
        anonymizer(spacy_model="xx_no_such_model")


def test_anonymize_custom_recognizer_with_context() -> None:
    custom = {"entity": "EMPLOYEE_ID", "pattern": r"EMP-\d{5}", "score": 0.3, "context": ["staff"]}
    found = anonymizer(custom_recognizers=[custom])
    assert found.anonymize_text("staff number EMP-12345", "train", "f:1") == (
        "staff number <EMPLOYEE_ID>"
    )
    # Without a context word the score stays 0.3, under the 0.4 threshold.
    assert found.anonymize_text("ticket EMP-12345", "train", "f:1") == "ticket EMP-12345"
    zh = anonymizer(language="zh", custom_recognizers=[custom])
    assert zh.anonymize_text("staff编号EMP-12345。", "train", "f:1") == "staff编号<EMPLOYEE_ID>。"


def test_anonymize_entities_restrict_what_is_found() -> None:
    out = anonymizer(entities=["EMAIL_ADDRESS"]).anonymize_text(TEXT, "train", "f:1")
    assert "<EMAIL_ADDRESS>" in out and "John Smith" in out and "4111 1111" in out


def test_anonymize_chinese_text_uses_cjk_patterns() -> None:
    out = anonymizer().anonymize_text("请拨打13812345678或发邮件到li@qq.com。", "train", "f:1")
    assert out == "请拨打<CN_PHONE_NUMBER>或发邮件到<EMAIL_ADDRESS>。"


def test_anonymize_ner_tokens_keep_their_count(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = ("Ask", "John", "Smith", "at", "john.smith@example.com", "now")
    for strategy in ("replace", "mask", "redact", "pseudonym"):
        monkeypatch.setenv(SALT_ENV, "s")
        found = anonymizer(strategy=strategy, salt_env=SALT_ENV)
        out = found.anonymize_tokens(tokens, "train", "f:1")
        assert len(out) == len(tokens) and all(token.strip() for token in out), strategy
        assert out[0] == "Ask" and out[3] == "at" and out[5] == "now"
        assert "John" not in out and "john.smith@example.com" not in out


def test_anonymize_report_shows_shapes_never_values() -> None:
    found = anonymizer()
    found.anonymize_text(TEXT, "train", "data.csv:2")
    report = found.report({"train": "data.csv"})
    assert report["counts"]["train"]["EMAIL_ADDRESS"] == 1
    assert report["texts_with_pii"] == {"train": 1}
    assert {"entity": "PERSON", "source": "data.csv:2", "shape": "Xxxx Xxxxx"}.items() <= next(
        e for e in report["examples"] if e["entity"] == "PERSON"
    ).items()
    for value in RAW_VALUES:
        assert value not in str(report)
    assert value_shape("李雷 Li-9") == "字字 Xx-9"


def test_anonymize_runs_before_cleaning_and_quarantine(
    tmp_path: Path, make_config: Callable[..., RunConfig]
) -> None:
    rows = ["text,label"]
    for i in range(12):
        rows.append(f"Match {i} report: the team won again,sport")
        rows.append(f"Budget {i} report: the markets fell again,business")
    leak = "Call John Smith on (415) 555-0132 about the budget"
    rows += [f"{leak},business", f"{leak},business"]  # a duplicate: quarantined
    source = tmp_path / "news.csv"
    source.write_text("\n".join(rows) + "\n", encoding="utf-8")
    config = make_config(str(source), anonymization={"enabled": True})
    splits = prepare_dataset(config)
    texts = [r.text for r in (*splits.train, *splits.validation, *splits.test)]
    assert [q.text for q in splits.quarantined] == [
        "Call <PERSON> on <PHONE_NUMBER> about the budget"
    ]
    assert not any("John Smith" in t or "555-0132" in t for t in texts)
    assert splits.anonymization is not None
    assert splits.anonymization["totals"] == {"PERSON": 2, "PHONE_NUMBER": 2}
    assert splits.anonymization["sources"] == {"train": "news.csv"}


def test_anonymize_off_by_default(make_config: Callable[..., RunConfig], tmp_path: Path) -> None:
    source = tmp_path / "news.csv"
    rows = [f"Team {i} won again with John Smith,sport" for i in range(10)]
    rows += [f"Markets {i} fell again,business" for i in range(10)]
    source.write_text("text,label\n" + "\n".join(rows) + "\n", encoding="utf-8")
    splits = prepare_dataset(make_config(str(source)))
    assert splits.anonymization is None
    assert any("John Smith" in r.text for r in (*splits.train, *splits.validation, *splits.test))


def test_anonymize_tldextract_reads_the_bundled_suffix_list() -> None:
    import tldextract
    import tldextract.tldextract as module

    anonymizer()
    assert module.TLD_EXTRACTOR.suffix_list_urls == ()
    assert module.TLD_EXTRACTOR._cache.enabled is False
    assert tldextract.extract("mail.example.co.uk").suffix == "co.uk"


def test_anonymize_only_cjk_entities_asks_presidio_for_nothing() -> None:
    text = "Mail john.smith@example.com or call 13812345678。"
    out = anonymizer(entities=["CN_PHONE_NUMBER"]).anonymize_text(text, "train", "f:1")
    assert out == "Mail john.smith@example.com or call <CN_PHONE_NUMBER>。"
