"""The registry's user-facing error."""

from __future__ import annotations

from tuneforge.errors import TuneforgeError


class RegistryError(TuneforgeError):
    """A registry request cannot be done: unknown model, version or key, bad name or stage, or a
    run that cannot become a version. The message says what exists or what is missing."""
