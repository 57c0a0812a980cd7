"""The CJK-aware PII patterns: found when glued to Chinese text, refused when a check digit fails
or the number sits inside a longer digit run."""

from __future__ import annotations

import pytest

from tuneforge.data._cjk_pii import (
    find_cjk_pii,
    find_pattern,
    is_valid_resident_id,
    luhn_valid,
    resident_id_check_char,
)

ALL = ("CN_PHONE_NUMBER", "CN_RESIDENT_ID", "CN_BANK_CARD", "EMAIL_ADDRESS")
# GB 11643-1999's own example number (check character X).
VALID_ID = "11010519491231002X"
# A UnionPay-style 19-digit number whose last digit is its Luhn check digit.
VALID_CARD = "6222020200112233446"


def found(text: str) -> list[tuple[str, str]]:
    return [(f.entity, text[f.start : f.end]) for f in find_cjk_pii(text, ALL)]


def test_cjk_pii_resident_id_check_digit() -> None:
    assert resident_id_check_char(VALID_ID[:17]) == "X"
    assert is_valid_resident_id(VALID_ID)
    assert is_valid_resident_id(VALID_ID.lower())
    assert not is_valid_resident_id(VALID_ID[:17] + "1")


def test_cjk_pii_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid(VALID_CARD)
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("4111-1111")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("我的手机号是13812345678，请联系。", [("CN_PHONE_NUMBER", "13812345678")]),
        ("电话：+86 138 1234 5678谢谢", [("CN_PHONE_NUMBER", "+86 138 1234 5678")]),
        ("办公室电话010-62751234转分机", [("CN_PHONE_NUMBER", "010-62751234")]),
        ("座机（0755）86001234", [("CN_PHONE_NUMBER", "（0755）86001234")]),
        (f"身份证号{VALID_ID}已登记", [("CN_RESIDENT_ID", VALID_ID)]),
        (f"卡号{VALID_CARD}余额不足", [("CN_BANK_CARD", VALID_CARD)]),
        ("卡号6222 0202 0011 2233 446余额", [("CN_BANK_CARD", "6222 0202 0011 2233 446")]),
        ("邮箱zhang.wei@example.com谢谢", [("EMAIL_ADDRESS", "zhang.wei@example.com")]),
    ],
)
def test_cjk_pii_finds_values_glued_to_chinese(text: str, expected: list) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "订单号2138123456789已发货",  # a mobile-like run inside a longer digit run
        "编号13812345678901",  # 14 digits: not a phone
        "身份证号11010519491231002",  # 17 digits
        "身份证号110105194912310021",  # wrong check digit (should be X); also fails Luhn
        "卡号6222020200112233445余额",  # Luhn fails
        "流水号96222020200112233446",  # a valid card inside a longer run
        "号码12812345678",  # 12x is not a mobile prefix
        "编号01062751234",  # a 0-leading run without a separator is not a landline
    ],
)
def test_cjk_pii_refuses_invalid_or_embedded_numbers(text: str) -> None:
    assert found(text) == []


def test_cjk_pii_only_requested_entities() -> None:
    text = f"手机13812345678，身份证{VALID_ID}"
    only_ids = find_cjk_pii(text, ["CN_RESIDENT_ID"])
    assert [f.entity for f in only_ids] == ["CN_RESIDENT_ID"]


def test_cjk_pii_custom_pattern_context_raises_score() -> None:
    plain = find_pattern("编号EMP-12345", "EMPLOYEE_ID", r"EMP-\d{5}", 0.4, ["工号"])
    boosted = find_pattern("工号EMP-12345", "EMPLOYEE_ID", r"EMP-\d{5}", 0.4, ["工号"])
    assert [f.score for f in plain] == [0.4]
    assert boosted[0].score == pytest.approx(0.75)
