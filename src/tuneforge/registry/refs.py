"""Model names, stages and the references that address a version: "name", "name@production",
"name@staging", "name@3"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from tuneforge.registry.errors import RegistryError

STAGES = ("staging", "production", "archived")
MAX_NAME_LENGTH = 64
# Names become folder names and URL path segments: a conservative alphabet keeps them safe on
# every file system (no case clashes on macOS/Windows) and in /v1/models/{name}/predict.
_NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9._-]*")


@dataclass(frozen=True)
class ModelRef:
    """A parsed reference: a version number, a stage, or neither (the default version)."""

    name: str
    version: int | None = None
    stage: str | None = None


def validate_name(name: str, what: str = "model name") -> str:
    """Return ``name`` if it is a valid model (or tenant) name, else raise RegistryError."""
    if (
        not isinstance(name, str)
        or len(name) > MAX_NAME_LENGTH
        or not _NAME_PATTERN.fullmatch(name)
    ):
        raise RegistryError(
            f"Invalid {what} {name!r}: use lowercase letters, digits, '-', '_' and '.', start "
            f"with a letter or digit, at most {MAX_NAME_LENGTH} characters (e.g. news-topic)."
        )
    return name


def validate_stage(stage: str) -> str:
    if stage not in STAGES:
        raise RegistryError(f"Unknown stage {stage!r}: choose one of {', '.join(STAGES)}.")
    return stage


def parse_ref(ref: str) -> ModelRef:
    """Parse "name", "name@<stage>" or "name@<version number>".

    Raises:
        RegistryError: The name is invalid or the part after "@" is neither a stage nor a
            positive version number.
    """
    name, _, selector = str(ref).partition("@")
    validate_name(name)
    if not selector:
        if "@" in str(ref):
            raise RegistryError(
                f"Empty version after '@' in {ref!r}: use {name}@3 or {name}@production."
            )
        return ModelRef(name)
    if selector.isdigit() and int(selector) > 0:
        return ModelRef(name, version=int(selector))
    if selector in STAGES:
        return ModelRef(name, stage=selector)
    raise RegistryError(
        f"Cannot read {ref!r}: after '@' give a version number (>= 1) or a stage "
        f"({', '.join(STAGES)}), e.g. {name}@3 or {name}@production."
    )
