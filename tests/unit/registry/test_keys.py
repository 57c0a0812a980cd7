"""API keys: scope, rate limit, revocation, wrong secrets, and only a hash at rest."""

from __future__ import annotations

from pathlib import Path

import pytest

from tuneforge.registry import Registry, RegistryError, open_registry


def test_keys_create_and_authenticate(registry: Registry) -> None:
    key, token = registry.create_key("acme", ["news-topic", "other"], rate_limit_per_minute=600)

    assert token.startswith(f"tf_{key.key_id}_")
    assert (key.tenant, key.models, key.rate_limit_per_minute) == (
        "acme",
        ("news-topic", "other"),
        600,
    )
    assert registry.authenticate(token) == key
    assert registry.authenticate(f"  {token}\n") == key  # pasted with whitespace
    assert key.allows("news-topic") and key.allows("news-topic@3") and key.allows("other")
    assert not key.allows("secret-model")


def test_keys_wildcard_scope(registry: Registry) -> None:
    key, _ = registry.create_key("ops", ["*"])
    assert key.allows("anything") and key.rate_limit_per_minute is None


def test_keys_refuse_wrong_or_malformed_secrets(registry: Registry) -> None:
    key, token = registry.create_key("acme", ["news-topic"])
    other, other_token = registry.create_key("globex", ["news-topic"])
    wrong_secret = token[:-1] + ("A" if token[-1] != "A" else "B")
    # Another key's secret under this key's id: the hash is bound to the whole token.
    swapped = f"tf_{key.key_id}_{other_token.split('_', 2)[2]}"
    for bad in (wrong_secret, swapped, "", "Bearer " + token, "tf_abc_def", token + "x"):
        assert registry.authenticate(bad) is None, bad
    assert registry.authenticate(other_token) == other


def test_keys_revoke(registry: Registry) -> None:
    key, token = registry.create_key("acme", ["news-topic"])
    registry.revoke_key(key.key_id)
    registry.revoke_key(key.key_id)  # twice is harmless

    assert registry.authenticate(token) is None
    (listed,) = registry.list_keys()
    assert listed.key_id == key.key_id and listed.revoked and not listed.allows("news-topic")
    with pytest.raises(RegistryError, match="No API key with id 'nope'"):
        registry.revoke_key("nope")


@pytest.mark.parametrize(
    ("tenant", "models", "rate_limit", "message"),
    [
        ("Acme Corp", ["news-topic"], None, "Invalid tenant name"),
        ("acme", [], None, "at least one model"),
        ("acme", ["News"], None, "Invalid model name"),
        ("acme", ["news-topic"], 0, "at least 1"),
    ],
)
def test_keys_refuse_bad_requests(
    registry: Registry, tenant: str, models: list[str], rate_limit: int | None, message: str
) -> None:
    with pytest.raises(RegistryError, match=message):
        registry.create_key(tenant, models, rate_limit)
    assert registry.list_keys() == []


def test_keys_only_hash_at_rest(tmp_path: Path) -> None:
    location = tmp_path / "registry"
    with open_registry(location) as registry:
        key, token = registry.create_key("acme", ["*"])
        secret = token.split("_", 2)[2]
        assert all(not hasattr(item, "secret") for item in registry.list_keys())
    stored = b"".join(path.read_bytes() for path in location.glob("registry.db*"))
    assert key.key_id.encode() in stored  # the row is really there ...
    assert secret.encode() not in stored and token.encode() not in stored  # ... its secret not
    with open_registry(location) as reopened:
        assert reopened.authenticate(token) == key
