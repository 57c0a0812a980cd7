"""API keys (`Authorization: Bearer <key>`) and per-key rate limits.

Rate limits are token buckets held in each server process: with `--workers N` (or N replicas
behind a load balancer) a key can make up to N times its limit in total. Put a shared limiter
(e.g. at the load balancer) in front when the limit must hold across processes.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

# Keys are re-checked against the registry at most this often, so a revoked key stops working
# within seconds without a registry query on every request.
KEY_CACHE_TTL_S = 5.0


@dataclass(frozen=True)
class Caller:
    """Who is calling: an API key, or anyone when auth is disabled."""

    key_id: str | None
    tenant: str | None
    models: tuple[str, ...]
    rate_limit_per_minute: int | None

    def allows(self, model_name: str) -> bool:
        return "*" in self.models or model_name in self.models


ANONYMOUS = Caller(key_id=None, tenant=None, models=("*",), rate_limit_per_minute=None)


def bearer_secret(authorization: str | None) -> str | None:
    """The secret of an `Authorization: Bearer <secret>` header, or None."""
    if not authorization:
        return None
    scheme, _, secret = authorization.partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        return None
    return secret.strip()


class Authenticator:
    """Turns a bearer secret into a Caller through `registry.authenticate` (cached briefly)."""

    def __init__(self, registry: Any, required: bool, default_rate_limit_per_minute: int | None):
        self.registry = registry
        self.required = required
        self.default_rate_limit_per_minute = default_rate_limit_per_minute
        self._cache: dict[str, tuple[float, Caller | None]] = {}
        self._lock = threading.Lock()

    def cached_caller(self, authorization: str | None) -> tuple[bool, Caller | None]:
        """(True, the caller or None) when the answer needs no registry query: auth is off, the
        header holds no bearer secret, or the key was checked less than KEY_CACHE_TTL_S ago;
        else (False, None). Cheap enough for the event loop; `caller` does the query."""
        if not self.required:
            return True, ANONYMOUS
        secret = bearer_secret(authorization)
        if secret is None:
            return True, None
        cached = self._cached(self._digest(secret))
        return (True, cached[1]) if cached is not None else (False, None)

    def caller(self, authorization: str | None) -> Caller | None:
        """The caller, or None when the key is missing, unknown or revoked."""
        known, caller = self.cached_caller(authorization)
        if known:
            return caller
        secret = bearer_secret(authorization)
        assert secret is not None  # cached_caller answered every header without a secret
        digest = self._digest(secret)
        now = time.monotonic()
        key = self.registry.authenticate(secret)
        caller = None
        if key is not None and not key.revoked:
            caller = Caller(
                key_id=key.key_id,
                tenant=key.tenant,
                models=tuple(key.models),
                rate_limit_per_minute=key.rate_limit_per_minute
                or self.default_rate_limit_per_minute,
            )
        with self._lock:
            if len(self._cache) > 10_000:  # bound memory against floods of random keys
                self._cache.clear()
            self._cache[digest] = (now, caller)
        return caller

    @staticmethod
    def _digest(secret: str) -> str:
        # The cache is keyed by a digest so that raw secrets do not linger in memory.
        return hashlib.sha256(secret.encode("utf-8")).hexdigest()

    def _cached(self, digest: str) -> tuple[float, Caller | None] | None:
        """The cache entry for this key if it is fresh enough, else None."""
        with self._lock:
            cached = self._cache.get(digest)
        if cached is not None and time.monotonic() - cached[0] < KEY_CACHE_TTL_S:
            return cached
        return None


class RateLimiter:
    """A token bucket per key: `rate_per_minute` tokens refill per minute, the bucket holds a
    minute's worth, and each request takes one."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, last refill time)
        self._lock = threading.Lock()

    def acquire(self, key: str, rate_per_minute: int) -> float:
        """Take a token; return 0 when allowed, else the seconds until one is available."""
        per_second = rate_per_minute / 60.0
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(rate_per_minute), now))
            tokens = min(float(rate_per_minute), tokens + (now - last) * per_second)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / per_second


def retry_after_header(seconds: float) -> str:
    """Retry-After in whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
