"""Tables of versions and API keys for the terminal (`tuneforge registry list`, `keys list`)."""

from __future__ import annotations

from rich.table import Table

from tuneforge.registry.keys import ApiKey
from tuneforge.registry.store import ModelVersion


def main_metric_text(version: ModelVersion) -> str:
    """ "macro_f1 0.9707": the version's headline test metric, or "-" without one."""
    name = version.lineage.get("main_metric")
    value = version.metrics.get(name) if name else None
    if not isinstance(value, int | float):
        return "-"
    return f"{name} {value:.4f}"


def versions_table(versions: list[ModelVersion]) -> Table:
    table = Table(title="Model versions")
    for column in ("name", "version", "stage", "task", "main metric (test)", "created (UTC)"):
        table.add_column(column, justify="right" if column == "version" else "left")
    for version in versions:
        table.add_row(
            version.name,
            str(version.version),
            version.stage or "-",
            version.task,
            main_metric_text(version),
            _minutes(version.created_at),
        )
    return table


def keys_table(api_keys: list[ApiKey]) -> Table:
    table = Table(title="API keys (secrets are never stored or shown)")
    for column in ("key id", "tenant", "models", "rate limit /min", "created (UTC)", "status"):
        table.add_column(column)
    for key in api_keys:
        table.add_row(
            key.key_id,
            key.tenant,
            ", ".join(key.models),
            str(key.rate_limit_per_minute or "none"),
            _minutes(key.created_at),
            "revoked" if key.revoked else "active",
        )
    return table


def _minutes(timestamp: str) -> str:
    """An ISO UTC timestamp to the minute ("2026-11-23 17:55"): enough to tell versions apart."""
    return timestamp[:16].replace("T", " ")
