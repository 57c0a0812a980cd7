"""User-facing errors: the CLI prints their message and exits with code 2, no traceback."""

from __future__ import annotations


class TuneforgeError(Exception):
    """A problem with the user's input (config, data, model); the message says what and where."""


class ConfigError(TuneforgeError):
    """The config file has an unknown key, a bad value or cannot be parsed."""


class DataError(TuneforgeError):
    """The data cannot be loaded or is unusable (missing file, wrong column, one class only)."""


class ModelError(TuneforgeError):
    """The pretrained model cannot be found or loaded."""


class RunError(TuneforgeError):
    """A run directory is missing, incomplete or would be overwritten."""


class ExplainError(TuneforgeError):
    """An explanation cannot be computed as asked (method, target, task or backend)."""
