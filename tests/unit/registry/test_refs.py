"""References and names: what parses, what is refused and how the message helps."""

from __future__ import annotations

import pytest

from tuneforge.registry import ModelRef, RegistryError, parse_ref
from tuneforge.registry.refs import validate_name


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("news-topic", ModelRef("news-topic")),
        ("news-topic@3", ModelRef("news-topic", version=3)),
        ("news-topic@production", ModelRef("news-topic", stage="production")),
        ("news-topic@staging", ModelRef("news-topic", stage="staging")),
        ("a.b_c-1@archived", ModelRef("a.b_c-1", stage="archived")),
    ],
)
def test_refs_parse(ref: str, expected: ModelRef) -> None:
    assert parse_ref(ref) == expected


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("news-topic@0", "version number"),
        ("news-topic@prod", "version number"),
        ("news-topic@", "Empty version"),
        ("News-Topic", "Invalid model name"),
        ("../etc", "Invalid model name"),
        ("", "Invalid model name"),
    ],
)
def test_refs_refuse_bad_references(ref: str, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        parse_ref(ref)


@pytest.mark.parametrize("name", ["a", "news-topic", "v2.1_final", "9lives", "x" * 64])
def test_refs_valid_names(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "-lead", ".hidden", "_x", "UPPER", "has space", "a/b", "x" * 65, "ü"]
)
def test_refs_invalid_names(name: str) -> None:
    with pytest.raises(RegistryError, match="lowercase letters"):
        validate_name(name)
