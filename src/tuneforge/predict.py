"""Load a finished run's model and predict: shared by the CLI, `evaluate` and the HTTP server.

Imports nothing from `training/`: serving a model must not pull in the training loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tuneforge._allocator import keep_freed_memory
from tuneforge.data.records import Record
from tuneforge.errors import RunError
from tuneforge.inference import (
    OnnxTaskModel,
    default_device,
    forward_logits,
    pool_windows,
    quantize_linear_int8,
    resolve_precision,
)
from tuneforge.modeling import (
    load_pretrained,
    load_task_model,
    load_tokenizer,
    resolve_model_source,
)
from tuneforge.openvino_runtime import OpenVinoTaskModel
from tuneforge.run.info import TORCH_INT8, RunInfo, read_run_info
from tuneforge.run.layout import INFO_FILE, MODEL_DIR
from tuneforge.tasks import Task, get_task
from tuneforge.tasks._windows import encode_for_model


@dataclass
class Predictor:
    """A loaded model with its tokenizer and task head, ready to predict."""

    model: torch.nn.Module | OnnxTaskModel | OpenVinoTaskModel
    tokenizer: Any
    task_type: str
    label_names: list[str]
    metadata: dict[str, Any]
    max_seq_length: int
    device: torch.device
    precision: str = "fp32"
    batch_size: int = 64
    long_text: dict[str, Any] | None = None
    """How the model reads long texts (RunInfo.long_text); None: truncated."""

    @property
    def task(self) -> Task:
        return get_task(self.task_type)

    def logits(self, records: list[Record]) -> tuple[list[np.ndarray] | np.ndarray, list[dict]]:
        """Raw logits of the records (stacked for sequence tasks) and the encoded features."""
        features = encode_for_model(
            self.task,
            records,
            self.tokenizer,
            self.label_names,
            self.max_seq_length,
            self.metadata,
            self.long_text,
        )
        if not features:
            return [], features
        pad_token_id = self.tokenizer.pad_token_id or 0
        if isinstance(self.model, OnnxTaskModel | OpenVinoTaskModel):
            rows = self.model.forward_logits(features, self.batch_size, pad_token_id)
        else:
            rows, _ = forward_logits(
                self.model, features, self.batch_size, pad_token_id, self.device, self.precision
            )
        # model.long_text: chunks: the windows' logits pooled into one row per text.
        pooling = (self.long_text or {}).get("pooling", "mean")
        rows, features = pool_windows(rows, features, pooling)
        return self.task.stack_logits(rows), features

    def score(self, records: list[Record], config: Any) -> dict[str, Any]:
        """The task's metrics on labelled records (evaluate.scoring, like every other scorer)."""
        from tuneforge.evaluate.scoring import score_logits

        logits, features = self.logits(records)
        return score_logits(
            self.task,
            logits,
            records,
            features,
            names=self.label_names,
            metadata=self.metadata,
            config=config,
        )

    def predict(self, texts: list[str]) -> list[dict[str, Any]]:
        """Predictions for raw texts: a label and probabilities, labels, a value, or entities."""
        records = [self.task.unlabelled_record(text, index) for index, text in enumerate(texts)]
        logits, features = self.logits(records)
        if not features:
            return []
        return self.task.predict(logits, texts, features, self.label_names, self.metadata)


def load_predictor(
    run_dir: str | Path, device: str | None = None, batch_size: int = 64, threads: int | None = None
) -> Predictor:
    """Load the model of a finished run (a run folder, or its `model/` folder).

    The backend comes from the model folder's tuneforge.json: ``"backend": "onnxruntime"`` runs
    its ``onnx_file`` with ONNX Runtime on the CPU, ``"openvino"`` its OpenVINO IR on the CPU;
    otherwise PyTorch, with Linear layers quantised to int8 at load time when
    ``"quantization": "torch-int8-dynamic"``.

    ``threads`` is the number of CPU threads of an ONNX Runtime or OpenVINO model (None: one per
    physical core); a PyTorch model uses torch's own setting (``torch.set_num_threads``).

    Raises:
        RunError: the folder is not a finished run.
    """
    keep_freed_memory()  # batch after batch frees and re-allocates the same activations
    run_dir = Path(run_dir)
    model_dir = run_dir if (run_dir / INFO_FILE).is_file() else run_dir / MODEL_DIR
    if not model_dir.is_dir():
        raise RunError(f"{run_dir} is not a tuneforge run folder (no {MODEL_DIR}/ inside).")
    info = read_run_info(model_dir)
    task = get_task(info.task)
    backend = info.backend
    model: torch.nn.Module | OnnxTaskModel | OpenVinoTaskModel
    if backend == "onnxruntime":
        # ONNX Runtime's CPU provider: quantised kernels and fused attention live there.
        torch_device = torch.device("cpu")
        model = OnnxTaskModel(model_dir / info.onnx_file, threads)
    elif backend == "openvino":
        # The precision chosen (and timed) at compression: bf16 only on CPUs that compute it.
        torch_device = torch.device("cpu")
        model = OpenVinoTaskModel(model_dir, info.extra.get("openvino_precision", "f32"), threads)
    else:
        int8 = info.quantization == TORCH_INT8
        # Dynamically quantised Linear layers only have CPU kernels.
        torch_device = torch.device("cpu") if int8 else torch.device(device or default_device())
        model = _load_model(model_dir, info, task)
        if int8:
            model = quantize_linear_int8(model)
        model.to(torch_device).eval()
    precision = _precision(info, backend, torch_device)
    if backend == "openvino":
        precision = "bf16" if model.precision == "bf16" else "fp32"  # what OpenVINO computes in
    if precision == "bf16" and backend == "torch":
        # Weights held in bf16 instead of bf16 autocast over fp32 weights: autocast re-casts
        # every weight and casts activations around each LayerNorm in every batch. Measured on
        # the BBC News run (batch 32 x 128, 2 cores, AMX, 6 alternating runs): 133 vs 147 ms per
        # batch, logits as close to fp32 (max |difference| 0.017 vs 0.016), same labels.
        model.to(dtype=torch.bfloat16)
    return Predictor(
        model=model,
        tokenizer=load_tokenizer(str(model_dir)),
        task_type=info.task,
        label_names=info.label_names,
        metadata=info.metadata,
        max_seq_length=info.max_seq_length,
        device=torch_device,
        precision=precision,
        batch_size=batch_size,
        long_text=info.long_text,
    )


def _precision(info: RunInfo, backend: str, device: torch.device) -> str:
    # Quantised and ONNX models compute in their own number formats: no bf16 autocast on top.
    if backend != "torch" or info.quantization:
        return "fp32"
    return resolve_precision(info.precision, device)


def load_torch_model(model_dir: Path, info: RunInfo | None = None) -> torch.nn.Module:
    """The PyTorch model of a run's model folder (fp32; a peft/bottleneck wrapper for adapter
    saves), as saved: no quantisation, not moved to a device."""
    info = info if info is not None else read_run_info(model_dir)
    return _load_model(model_dir, info, get_task(info.task))


def _load_model(model_dir: Path, info: RunInfo, task: Task) -> torch.nn.Module:
    import transformers

    if info.saved_as != "adapter":
        return load_pretrained(getattr(transformers, task.auto_class), str(model_dir))
    from tuneforge.adapt import load_adapted_model

    def load_base() -> torch.nn.Module:
        return load_task_model(
            task,
            resolve_model_source(info.base_model),
            info.label_names,
            info.metadata,
            num_hidden_layers=info.num_hidden_layers,
        )

    return load_adapted_model(model_dir, load_base)
