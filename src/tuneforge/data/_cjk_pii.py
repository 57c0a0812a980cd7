"""CJK-aware patterns for personal data in Chinese text: phones, resident IDs, bank cards, emails.

Presidio has no Chinese NLP model that installs offline, and its patterns lean on ``\\b``, which
never fires between two CJK characters (both are word characters), so "电话13812345678谢谢"
is missed. These patterns bound a number with digit lookarounds (``(?<!\\d)``, ``(?!\\d)``)
instead: a number glued to Chinese text is found, a number inside a longer digit run is not.
Numbers with a check digit are validated (ISO 7064 MOD 11-2 for IDs, Luhn for cards), which is
what keeps random digit runs out. Pure ``re``: no dependency beyond the standard library.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
"""CJK ideographs, CJK punctuation and full-width forms: a text with any is read as Chinese."""

# GB 11643-1999: weights of the 17 digits, and the check character for each sum mod 11.
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


@dataclass(frozen=True)
class Finding:
    """One piece of personal data found in a text: ``text[start:end]`` is of type ``entity``."""

    start: int
    end: int
    entity: str
    score: float


def resident_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of an 18-digit resident ID's first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK[total % 11]


def is_valid_resident_id(value: str) -> bool:
    """18 characters: 17 digits then the right check character (a digit or X)."""
    value = value.upper()
    return (
        len(value) == 18
        and value[:17].isdigit()
        and resident_id_check_char(value[:17]) == value[17]
    )


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check that bank and credit card numbers carry in their last digit."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        digit = int(char)
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def _digits(value: str) -> str:
    return re.sub(r"[\s-]", "", value)


def _valid_card(value: str) -> bool:
    digits = _digits(value)
    return 16 <= len(digits) <= 19 and luhn_valid(digits)


# (entity, pattern, score, validator). Each pattern refuses to start or end inside a longer run
# of digits; an email refuses to start or end inside an ASCII address-like run (not \w, which
# would also match CJK characters and so swallow the surrounding Chinese words).
_PATTERNS: tuple[tuple[str, re.Pattern[str], float, Callable[[str], bool] | None], ...] = (
    (
        "CN_RESIDENT_ID",
        # 6-digit region, birth date 18xx-20xx, 3-digit sequence, check character.
        re.compile(
            r"(?<![\dA-Za-z])[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])"
            r"\d{3}[\dXx](?![\dA-Za-z])"
        ),
        0.95,
        is_valid_resident_id,
    ),
    (
        "CN_BANK_CARD",
        # 16-19 digits, optionally in groups of four separated by spaces or hyphens.
        re.compile(r"(?<![\d-])[1-9]\d{3}(?:[ -]?\d{4}){3}(?:[ -]?\d{1,3})?(?![\d])"),
        0.9,
        _valid_card,
    ),
    (
        "CN_PHONE_NUMBER",
        # Mainland mobile: 1[3-9] and 9 more digits, optionally +86 and 3-4-4 grouping.
        re.compile(r"(?<![\d+])(?:\+?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)"),
        0.85,
        None,
    ),
    (
        "CN_PHONE_NUMBER",
        # Landline: a 3-4 digit area code starting with 0 in brackets or before a hyphen (a
        # separator is required: an unseparated 0-leading run is too often another number).
        re.compile(r"(?<!\d)(?:\(0\d{2,3}\)|（0\d{2,3}）|0\d{2,3}-)\s?[2-9]\d{6,7}(?!\d)"),
        0.75,
        None,
    ),
    (
        "EMAIL_ADDRESS",
        re.compile(
            r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
            r"\.[A-Za-z]{2,}(?![A-Za-z0-9-])"
        ),
        0.9,
        None,
    ),
)

CJK_ENTITIES = ("CN_PHONE_NUMBER", "CN_RESIDENT_ID", "CN_BANK_CARD", "EMAIL_ADDRESS")


def find_cjk_pii(text: str, entities: Iterable[str]) -> list[Finding]:
    """Every validated match of the CJK patterns for ``entities``, without overlaps.

    Patterns are tried in order (ID before card before phone), and a later match overlapping
    an earlier one is dropped: an 18-digit ID that happens to pass Luhn stays an ID.
    """
    wanted = set(entities)
    findings: list[Finding] = []
    for entity, pattern, score, validate in _PATTERNS:
        if entity not in wanted:
            continue
        for match in pattern.finditer(text):
            if validate is not None and not validate(match.group()):
                continue
            if any(match.start() < f.end and f.start < match.end() for f in findings):
                continue
            findings.append(Finding(match.start(), match.end(), entity, score))
    return sorted(findings, key=lambda finding: finding.start)


def find_pattern(
    text: str, entity: str, pattern: str, score: float, context: Iterable[str] = ()
) -> list[Finding]:
    """Matches of a custom recogniser's regex, the score raised by 0.35 (at most 1.0) when one
    of its context words occurs in the 30 characters before the match (Presidio's default
    context boost, without its English lemmatiser, so it works on Chinese too)."""
    words = [word.lower() for word in context]
    findings = []
    for match in re.finditer(pattern, text):
        if match.end() == match.start():
            continue
        before = text[max(0, match.start() - 30) : match.start()].lower()
        boosted = min(1.0, score + 0.35) if any(word in before for word in words) else score
        findings.append(Finding(match.start(), match.end(), entity, boosted))
    return findings
