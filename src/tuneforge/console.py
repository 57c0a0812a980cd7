"""The one rich console: status, tables and progress go to stderr so stdout stays machine-readable
(`tuneforge predict` prints JSON there)."""

from __future__ import annotations

from rich.console import Console

console = Console(stderr=True)
