"""Reading a run config: YAML file, --set overrides, validation errors as one readable message;
and writing the resolved config into a run folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tuneforge.config.run import RunConfig, did_you_mean
from tuneforge.errors import ConfigError


def load_config(path: str | Path, overrides: list[str] | None = None) -> RunConfig:
    """Read, override and validate a YAML run config.

    Args:
        path: the YAML file.
        overrides: ``dotted.key=value`` strings (``training.learning_rate=3e-5``); the value is
            parsed as YAML, so numbers, booleans and lists keep their type.

    Raises:
        ConfigError: the file is missing or unparsable, or a key or value is invalid.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Config file {path} does not exist. Create one with `tuneforge init`.")
    raw = read_yaml_mapping(path, "sections (data:, model:, ...)")
    for override in overrides or []:
        apply_override(raw, override)
    return config_from_dict(raw, source=str(path), config_dir=str(path.resolve().parent))


def read_yaml_mapping(path: Path, top_level: str) -> dict[str, Any]:
    """The mapping at the top of a YAML file; ConfigError with the file and line otherwise.

    Args:
        path: an existing YAML file.
        top_level: what the top-level mapping holds, for the message (e.g. "sections (data:, ...)").
    """
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        raise ConfigError(f"{where}: not valid YAML ({getattr(exc, 'problem', exc)}).") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}).") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of {top_level}.")
    return raw


def config_from_dict(
    raw: dict[str, Any], source: str = "config", config_dir: str | None = None
) -> RunConfig:
    """Validate a config mapping, turning pydantic errors into one readable ConfigError."""
    try:
        config = RunConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_describe_validation_error(exc, source)) from exc
    config.config_dir = config_dir
    return config


def apply_override(raw: dict[str, Any], override: str) -> None:
    """Set ``dotted.key=value`` in a raw config mapping (the value is parsed as YAML)."""
    key, sep, value = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"--set {override!r}: expected dotted.key=value, e.g. training.epochs=1.")
    parts = key.strip().split(".")
    node = raw
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {override!r}: {part} is not a section.")
        node = child
    try:
        node[parts[-1]] = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"--set {override!r}: the value is not valid YAML.") from exc


def save_config(config: RunConfig, path: Path) -> None:
    """Write the resolved config (every default filled in) as YAML."""
    resolved = config.model_dump(mode="json")
    resolved["data"]["source"] = _absolute_source(config, config.data.source)
    for key in ("validation_source", "test_source"):
        if resolved["data"][key]:
            resolved["data"][key] = _absolute_source(config, resolved["data"][key])
    path.write_text(yaml.safe_dump(resolved, sort_keys=False), encoding="utf-8")


def _absolute_source(config: RunConfig, source: str) -> str:
    if source.startswith("builtin:"):
        return source
    return str(config.resolve_path(source).resolve())


def _describe_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid config."]
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        dotted = ".".join(location)
        if error["type"] == "extra_forbidden":
            hint = did_you_mean(location)
            lines.append(f"  unknown key {dotted}{hint}")
        else:
            value = error.get("input")
            shown = f" (got {value!r})" if not isinstance(value, dict) else ""
            message = error["msg"].removeprefix("Value error, ")
            lines.append(f"  {dotted}: {message}{shown}" if dotted else f"  {message}")
    return "\n".join(lines)
