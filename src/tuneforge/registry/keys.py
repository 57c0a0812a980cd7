"""API keys: tenants, model scopes and rate limits; only a hash of each secret is stored.

A token reads ``tf_<key_id>_<secret>``: the key id finds the row in one indexed lookup and is
safe to show (``keys list``, logs); the secret is 32 random bytes shown once at creation.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select, update

from tuneforge.registry.errors import RegistryError
from tuneforge.registry.lineage import utc_now
from tuneforge.registry.refs import validate_name
from tuneforge.registry.schema import api_keys, write_transaction

ALL_MODELS = "*"
_TOKEN_PATTERN = re.compile(r"tf_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")


@dataclass(frozen=True)
class ApiKey:
    """A key's public facts: never its secret."""

    key_id: str
    tenant: str
    models: tuple[str, ...]
    rate_limit_per_minute: int | None
    created_at: str
    revoked: bool

    def allows(self, model_name: str) -> bool:
        """Whether this key may call ``model_name`` (any "@version" or "@stage" part ignored)."""
        if self.revoked:
            return False
        name = model_name.partition("@")[0]
        return ALL_MODELS in self.models or name in self.models


def hash_secret(token: str) -> str:
    # sha256, not bcrypt/argon2: those slow down guessing of low-entropy passwords. This secret
    # is 256 random bits, beyond any guessing, and a slow hash would only add its cost (tens of
    # milliseconds by design) to every authenticated request.
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_key(
    engine: Engine, tenant: str, models: list[str], rate_limit_per_minute: int | None = None
) -> tuple[ApiKey, str]:
    """Store a new key; returns it and its token (the only time the token exists in clear).

    Raises:
        RegistryError: Bad tenant or model name, no models, or a rate limit below 1.
    """
    validate_name(tenant, "tenant name")
    scope = sorted({model.strip() for model in models if model.strip()})
    if not scope:
        raise RegistryError("A key needs at least one model name, or '*' for every model.")
    for model in scope:
        if model != ALL_MODELS:
            validate_name(model)
    if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
        raise RegistryError(
            f"Rate limit {rate_limit_per_minute} per minute: give at least 1, or none for no limit."
        )
    key_id = secrets.token_hex(6)
    token = f"tf_{key_id}_{secrets.token_urlsafe(32)}"
    key = ApiKey(key_id, tenant, tuple(scope), rate_limit_per_minute, utc_now(), revoked=False)
    with write_transaction(engine) as connection:
        connection.execute(
            insert(api_keys).values(
                key_id=key_id,
                tenant=tenant,
                models=list(scope),
                rate_limit_per_minute=rate_limit_per_minute,
                secret_sha256=hash_secret(token),
                created_at=key.created_at,
            )
        )
    return key, token


def authenticate(engine: Engine, token: str) -> ApiKey | None:
    """The key of a token, or None for a malformed, unknown or revoked one."""
    match = _TOKEN_PATTERN.fullmatch(token.strip()) if isinstance(token, str) else None
    if match is None:
        return None
    with engine.connect() as connection:
        row = connection.execute(
            select(api_keys).where(api_keys.c.key_id == match.group(1))
        ).first()
    # Constant-time: the comparison does not leak how many leading characters matched.
    if row is None or not hmac.compare_digest(row.secret_sha256, hash_secret(token.strip())):
        return None
    key = _to_key(row)
    return None if key.revoked else key


def revoke_key(engine: Engine, key_id: str) -> None:
    """Revoke a key at once; revoking twice is harmless.

    Raises:
        RegistryError: No key has this id.
    """
    with write_transaction(engine) as connection:
        result = connection.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=utc_now())
        )
        if result.rowcount == 0:
            exists = connection.execute(
                select(api_keys.c.key_id).where(api_keys.c.key_id == key_id)
            ).first()
            if exists is None:
                raise RegistryError(
                    f"No API key with id {key_id!r}; `tuneforge keys list` shows the ids."
                )


def list_keys(engine: Engine) -> list[ApiKey]:
    """Every key, revoked ones included, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id)
        ).all()
    return [_to_key(row) for row in rows]


def _to_key(row: Any) -> ApiKey:
    return ApiKey(
        key_id=row.key_id,
        tenant=row.tenant,
        models=tuple(row.models),
        rate_limit_per_minute=row.rate_limit_per_minute,
        created_at=row.created_at,
        revoked=row.revoked_at is not None,
    )
