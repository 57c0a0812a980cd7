"""Bearer parsing and the per-key token bucket."""

from __future__ import annotations

import pytest

from tuneforge.serve.auth import RateLimiter, bearer_secret, retry_after_header


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
