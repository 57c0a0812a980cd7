"""The compression method registry, its options, and the source run every method reads from.

A method is a function ``(source, model_dir, options) -> details`` registered by name with the
tasks it applies to; it writes a loadable model folder (weights or ONNX file, tokenizer,
``tuneforge.json``) and returns what the report should say about it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from tuneforge.config import RunConfig, load_config
from tuneforge.data.records import Record, Splits
from tuneforge.errors import RunError, TuneforgeError
from tuneforge.predict import load_torch_model
from tuneforge.run import layout
from tuneforge.run.info import RunInfo, read_run_info, write_run_info
from tuneforge.run.layout import INFO_FILE, MODEL_DIR
from tuneforge.tasks import TASKS, Task, get_task
from tuneforge.tasks._windows import encode_for_model

ALL_TASKS: tuple[str, ...] = tuple(TASKS)


class CompressionError(TuneforgeError):
    """A compression method cannot be applied (wrong task, missing data, unsupported run)."""


class CompressOptions(BaseModel):
    """Settings of the compression methods; each method reads the fields it needs."""

    model_config = ConfigDict(extra="forbid")

    calibration_size: int = Field(128, ge=1)
    """onnx-int8-static: training texts run through the model to fix activation ranges."""
    per_channel: bool = False
    """int8 ONNX: one weight scale per output channel instead of per tensor."""
    openvino_precision: Literal["auto", "f32", "bf16"] = "auto"
    """openvino/openvino-int8: inference precision recorded for serving; auto: bf16 where the CPU
    computes it natively (AMX, AVX512-BF16) and a timed test batch runs faster in it."""
    optimize_graph: bool = True
    """ONNX: fuse attention/LayerNorm/GELU with the ORT transformer optimizer before saving."""
    parity_tolerance: float = Field(1e-3, gt=0)
    """onnx: the largest allowed |logit difference| between ONNX and PyTorch fp32."""
    sparsity: float = 0.5
    """prune-magnitude: fraction of the encoder's Linear weights set to zero (checked by the
    method, which names the run in its error)."""
    heads_to_prune_ratio: float = 0.25
    """prune-heads: fraction of attention heads removed, least important first."""
    student_layers: int = Field(3, ge=1)
    """distill: transformer layers of the student (taken from the teacher's layers)."""
    temperature: float = Field(2.0, gt=0)
    """distill: softmax temperature of the KL term (Hinton et al. 2015)."""
    distill_alpha: float = Field(0.5, ge=0.0, le=1.0)
    """distill: weight of the KL term; 1 - distill_alpha weighs the hard-label loss."""
    student_model: str | None = None
    """distill: another model (name or folder, the teacher's vocabulary) as the student
    instead of layers cut from the teacher."""
    distill_epochs: float = Field(3.0, gt=0)
    """distill: epochs of distillation (a 3-layer student starts far from the teacher)."""
    distill_learning_rate: float | None = Field(None, gt=0)
    """distill: student learning rate; None = the source run's training.learning_rate."""
    recovery_epochs: float = Field(1.0, ge=0.0)
    """prune-magnitude/prune-heads: epochs of recovery fine-tuning (0: none)."""
    recovery_learning_rate: float = Field(5e-5, gt=0)
    """prune-magnitude/prune-heads: learning rate of the recovery fine-tune."""
    measure_repeats: int = Field(5, ge=1)
    """Timed repeats per measurement; the report gives their median."""
    measure_examples: int = Field(64, ge=1)
    """Test texts used for the latency and throughput measurements."""
    measure_threads: int | None = Field(None, ge=1)
    """CPU threads of both backends while measuring; None: one per physical core (as served).
    On a busy machine 1 gives steadier numbers: torch's thread barriers stall when a core is
    taken by another process (seen: 4 ms -> 150 ms per text)."""


MethodFn = Callable[["SourceRun", Path, CompressOptions], dict[str, Any]]


@dataclass(frozen=True)
class Method:
    name: str
    tasks: tuple[str, ...]
    fn: MethodFn
    trains: bool = False
    """True when the method fine-tunes (slow): benchmarks can skip it."""


METHODS: dict[str, Method] = {}


def register_method(
    name: str, tasks: Iterable[str] = ALL_TASKS, trains: bool = False
) -> Callable[[MethodFn], MethodFn]:
    """Register a compression method under ``name`` for the given task types."""

    def decorate(fn: MethodFn) -> MethodFn:
        if name in METHODS and METHODS[name].fn is not fn:
            raise ValueError(f"compression method {name!r} is registered twice")
        METHODS[name] = Method(name, tuple(tasks), fn, trains)
        return fn

    return decorate


def available_methods() -> dict[str, Method]:
    """Every registered method (importing the modules that register them)."""
    import tuneforge.compress.catalog  # noqa: F401  (registers the built-in methods)

    return dict(METHODS)


def get_method(name: str, task_type: str) -> Method:
    """The method ``name`` for a task, with a clear error when it is unknown or does not apply."""
    methods = available_methods()
    if name not in methods:
        raise CompressionError(
            f"Unknown compression method {name!r}. Choose one of: {', '.join(sorted(methods))}."
        )
    method = methods[name]
    if task_type not in method.tasks:
        raise CompressionError(
            f"Compression method {name!r} does not apply to {task_type} runs; it supports: "
            f"{', '.join(method.tasks)}."
        )
    return method


def methods_for_task(task_type: str) -> list[Method]:
    return [method for method in available_methods().values() if task_type in method.tasks]


# peft methods whose update folds into the base weights (see adapt/storage.py); the others add
# computation no plain transformers model can express, so there is nothing plain to compress.
_MERGEABLE_ADAPTERS = ("lora", "adalora", "ia3")


@dataclass
class SourceRun:
    """A finished run being compressed: its config, task, tokenizer, data and a fresh model."""

    run_dir: Path
    config: RunConfig
    info: RunInfo
    tokenizer: Any
    _splits: Splits | None = field(default=None, repr=False)

    @classmethod
    def open(cls, run_dir: str | Path) -> SourceRun:
        """Read a finished run folder.

        Raises:
            RunError: the folder is not a finished run, or it is already an ONNX artifact.
        """
        from tuneforge.modeling import load_tokenizer

        run_dir = Path(run_dir)
        model_dir = run_dir / MODEL_DIR
        if not (run_dir / layout.CONFIG_FILE).is_file() or not (model_dir / INFO_FILE).is_file():
            raise RunError(
                f"{run_dir} is not a finished tuneforge run (it needs {layout.CONFIG_FILE} and "
                f"{MODEL_DIR}/{INFO_FILE}). Point at runs/<run> after `tuneforge train`."
            )
        info = read_run_info(model_dir)
        if info.backend != "torch":
            raise CompressionError(
                f"{run_dir} is already a compressed {info.backend} model; compress the "
                "original PyTorch run instead."
            )
        return cls(
            run_dir=run_dir,
            config=load_config(run_dir / layout.CONFIG_FILE),
            info=info,
            tokenizer=load_tokenizer(str(model_dir)),
        )

    @property
    def model_dir(self) -> Path:
        return self.run_dir / MODEL_DIR

    @property
    def task_type(self) -> str:
        return self.info.task

    @property
    def task(self) -> Task:
        return get_task(self.info.task)

    @property
    def label_names(self) -> list[str]:
        return self.info.label_names

    @property
    def max_seq_length(self) -> int:
        return self.info.max_seq_length

    def load_model(self) -> torch.nn.Module:
        """A fresh fp32 copy of the run's model in eval mode; LoRA-style adapters merged.

        Raises:
            CompressionError: the run saved only a prefix/prompt/bottleneck adapter.
        """
        model = load_torch_model(self.model_dir, self.info)
        if self.info.saved_as == "adapter":
            method = self.info.adaptation
            if method not in _MERGEABLE_ADAPTERS:
                raise CompressionError(
                    f"{self.run_dir} saved a {method} adapter, which cannot be merged into the "
                    "base weights, so there is no plain model to compress. Compress a full, "
                    f"LoRA, AdaLoRA or IA3 run instead (adaptation.method: {method})."
                )
            model = model.merge_and_unload()
        return model.float().eval()

    def splits(self) -> Splits:
        """Train/validation/test records re-prepared from the saved config (same seed, same
        split as training; the run folder keeps only validation and test)."""
        if self._splits is None:
            from tuneforge.data.prepare import prepare_dataset

            self._splits = prepare_dataset(self.config)
        return self._splits

    def features(self, split: str) -> list[dict[str, Any]]:
        """The encoded features (with labels) of ``split``: "train", "validation" or "test"."""
        records = getattr(self.splits(), split)
        task = get_task(self.task_type)
        return encode_for_model(
            task,
            records,
            self.tokenizer,
            self.label_names,
            self.max_seq_length,
            self.info.metadata,
            self.info.long_text,
        )

    def write_info(self, model_dir: Path, **changes: Any) -> RunInfo:
        """Write ``tuneforge.json`` into ``model_dir``: the source's, with ``changes`` applied,
        and the tokenizer next to it. A PyTorch save gets ``saved_as: full``."""
        info = self.info.replace(**{"saved_as": "full", **changes})
        self.tokenizer.save_pretrained(model_dir)
        write_run_info(info, Path(model_dir))
        return info

    def save_torch_model(self, model: torch.nn.Module, model_dir: Path, **changes: Any) -> None:
        """Save a plain transformers model (safetensors) with tokenizer and ``tuneforge.json``."""
        model.save_pretrained(model_dir, safe_serialization=True)
        self.write_info(model_dir, **changes)


def options_from_overrides(overrides: list[str] | None) -> CompressOptions:
    """CompressOptions from ``key=value`` strings (values parsed as YAML, like ``--set``).

    Raises:
        ConfigError: a string is not key=value, the key is unknown, or the value is invalid.
    """
    import difflib

    import yaml
    from pydantic import ValidationError

    from tuneforge.errors import ConfigError

    raw: dict[str, Any] = {}
    for override in overrides or []:
        key, sep, value = override.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {override!r}: expected key=value, e.g. sparsity=0.5.")
        if key not in CompressOptions.model_fields:
            close = difflib.get_close_matches(key, list(CompressOptions.model_fields), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(
                f"--set {override!r}: unknown compression option {key!r}{hint}. Options: "
                f"{', '.join(CompressOptions.model_fields)}."
            )
        try:
            raw[key] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {override!r}: the value is not valid YAML.") from exc
    try:
        return CompressOptions.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"Invalid compression option: {problems}.") from exc


def evaluation_records(run_dir: Path) -> list[Record]:
    """The run's saved test split (validation when the test split is empty)."""
    splits = run_dir / layout.SPLITS_DIR
    for name in ("test", "validation"):
        path = splits / f"{name}.jsonl"
        records = layout.read_records(path) if path.is_file() else []
        if records:
            return records
    raise RunError(
        f"{run_dir} has no saved test or validation examples ({splits}/test.jsonl): there is "
        "nothing to measure a compressed model against."
    )
