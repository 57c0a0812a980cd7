"""Bearer parsing, the key cache and the per-key token bucket."""

from __future__ import annotations

import pytest

from tuneforge.registry.keys import ApiKey
from tuneforge.serve.auth import (
    ANONYMOUS,
    KEY_CACHE_TTL_S,
    Authenticator,
    RateLimiter,
    bearer_secret,
    retry_after_header,
)


def test_auth_bearer_secret_parsing() -> None:
    assert bearer_secret("Bearer abc") == "abc"
    assert bearer_secret("bearer   abc ") == "abc"
    assert bearer_secret("Basic abc") is None
    assert bearer_secret("Bearer ") is None
    assert bearer_secret(None) is None


def test_auth_token_bucket_allows_a_minute_then_refills(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr("tuneforge.serve.auth.time.monotonic", lambda: now[0])
    limiter = RateLimiter()

    assert [limiter.acquire("k", 6) for _ in range(6)] == [0.0] * 6
    wait_s = limiter.acquire("k", 6)
    assert wait_s == pytest.approx(10.0)  # 6 per minute: one token every 10 s
    assert retry_after_header(wait_s) == "10"
    assert limiter.acquire("other", 6) == 0.0  # buckets are per key
    now[0] += 10.0
    assert limiter.acquire("k", 6) == 0.0
    assert limiter.acquire("k", 6) > 0


class CountingRegistry:
    """A registry stand-in that knows one key and counts the lookups."""

    def __init__(self) -> None:
        self.lookups = 0

    def authenticate(self, secret: str) -> ApiKey | None:
        self.lookups += 1
        if secret != "good":
            return None
        return ApiKey("k1", "acme", ("*",), 60, "2026-12-07", revoked=False)


def test_auth_cached_caller_answers_on_the_event_loop_only_from_a_fresh_cache(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr("tuneforge.serve.auth.time.monotonic", lambda: now[0])
    registry = CountingRegistry()
    auth = Authenticator(registry, required=True, default_rate_limit_per_minute=None)

    assert auth.cached_caller("Bearer good") == (False, None)  # never checked: ask the registry
    assert auth.cached_caller(None) == (True, None)  # no key: refused without a lookup
    caller = auth.caller("Bearer good")
    assert caller is not None and caller.key_id == "k1"
    assert auth.cached_caller("Bearer good") == (True, caller)
    assert auth.caller("Bearer bad") is None
    assert auth.cached_caller("Bearer bad") == (True, None)  # unknown keys are cached too
    assert registry.lookups == 2
    now[0] += KEY_CACHE_TTL_S + 1  # stale: a revoked key must stop working
    assert auth.cached_caller("Bearer good") == (False, None)
    assert Authenticator(registry, False, None).cached_caller(None) == (True, ANONYMOUS)
