"""``model/tuneforge.json``: what a finished run's model is, typed and read in one place.

Written by training and compression, read by prediction, evaluation, compression, the registry
and the server. Keys a newer tuneforge writes are kept (``extra``) and written back unchanged.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneforge._atomic import write_json_atomic
from tuneforge.errors import RunError
from tuneforge.run.layout import INFO_FILE

INFO_FORMAT_VERSION = 1
TORCH_INT8 = "torch-int8-dynamic"
"""``quantization`` value of a model whose Linear layers are quantised to int8 at load time."""


@dataclass(frozen=True)
class RunInfo:
    """The model folder's description: task head, labels, how it was saved and how it runs."""

    task: str
    """The task type (``Task.name``)."""
    label_names: list[str]
    metadata: dict[str, Any]
    """Task metadata fitted on the data (multilabel thresholds, regression target scale)."""
    max_seq_length: int
    base_model: str
    """The config's model.name the run started from."""
    adaptation: str
    saved_as: str
    """full / merged (a plain transformers model), adapter (base + adapter), onnx."""
    precision: str = "fp32"
    """Precision the model was trained in; prediction uses bf16 where that was bf16."""
    num_hidden_layers: int | None = None
    backend: str = "torch"
    """torch, or onnxruntime (then ``onnx_file`` is the model)."""
    onnx_file: str | None = None
    quantization: str | None = None
    long_text: dict[str, Any] | None = None
    """How texts longer than max_seq_length are read (``model.long_text`` settings)."""
    format_version: int = INFO_FORMAT_VERSION
    extra: dict[str, Any] = field(default_factory=dict)
    """Keys this version does not interpret (e.g. pruned heads per layer), kept as they are."""

    def to_json(self) -> dict[str, Any]:
        data = {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "extra"
        }
        return {**data, **self.extra}

    @classmethod
    def from_json(cls, raw: dict[str, Any], where: str = INFO_FILE) -> RunInfo:
        """Raises RunError when a required key is missing."""
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        ]
        missing = [name for name in required if name not in raw]
        if missing:
            raise RunError(f"{where}: missing {', '.join(missing)}; the model folder is damaged.")
        known = {key: value for key, value in raw.items() if key in names}
        extra = {key: value for key, value in raw.items() if key not in names}
        return cls(**known, extra=extra)

    def replace(self, **changes: Any) -> RunInfo:
        """A copy with ``changes``; unknown keys go to ``extra``."""
        names = {f.name for f in dataclasses.fields(self)}
        known = {key: value for key, value in changes.items() if key in names}
        extra = {key: value for key, value in changes.items() if key not in names}
        return dataclasses.replace(self, **known, extra={**self.extra, **extra})


def read_run_info(model_dir: Path) -> RunInfo:
    """The ``tuneforge.json`` of a model folder.

    Raises:
        RunError: the folder has none (not a finished run) or it is damaged.
    """
    path = Path(model_dir) / INFO_FILE
    if not path.is_file():
        raise RunError(
            f"{model_dir} has no {INFO_FILE}: it is not the model folder of a finished tuneforge "
            "run. Point at runs/<run> after `tuneforge train` has completed."
        )
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise RunError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno}).") from exc
    return RunInfo.from_json(raw, where=str(path))


def write_run_info(info: RunInfo, model_dir: Path) -> None:
    write_json_atomic(info.to_json(), Path(model_dir) / INFO_FILE)
