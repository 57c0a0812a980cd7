"""A run's model seen by the explainers: token ids in, the explained scores out.

Scores come from the loaded predictor (the model as served: bf16, int8 or ONNX Runtime), in
batches. Integrated gradients also needs gradients, so `differentiable()` gives an fp32 PyTorch
copy of the model; ONNX runs have none and explain with LIME and SHAP only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tuneforge.errors import ExplainError
from tuneforge.explain.words import EncodedText, encode_words
from tuneforge.inference import OnnxTaskModel, forward_logits
from tuneforge.openvino_runtime import OpenVinoTaskModel

if TYPE_CHECKING:
    from tuneforge.predict import Predictor


@dataclass
class ExplainModel:
    """The predictor plus what explaining needs: output names and a differentiable copy."""

    predictor: Predictor
    model_dir: Path | None = None
    """The run (or its model/) folder, to load an fp32 copy when the predictor's model is not
    one."""
    _fp32: torch.nn.Module | None = field(default=None, repr=False)

    @property
    def output_names(self) -> list[str]:
        return list(self.predictor.label_names)

    @property
    def tokenizer(self) -> Any:
        return self.predictor.tokenizer

    @property
    def has_gradients(self) -> bool:
        return not isinstance(self.predictor.model, OnnxTaskModel | OpenVinoTaskModel)

    def encode(self, text: str) -> EncodedText:
        """The text as the model reads it (long texts: the first max_seq_length tokens)."""
        return encode_words(self.tokenizer, text, self.predictor.max_seq_length)

    def logits_of_ids(self, sequences: Sequence[Sequence[int]]) -> list[np.ndarray]:
        """The model's logits of token id sequences, in batches of the predictor: (outputs,)
        per sequence, or (length, tags) for token tasks."""
        features = [
            {
                "input_ids": list(ids),
                "attention_mask": [1] * len(ids),
                "token_type_ids": [0] * len(ids),
            }
            for ids in sequences
        ]
        predictor = self.predictor
        pad_token_id = self.tokenizer.pad_token_id or 0
        if isinstance(predictor.model, OnnxTaskModel | OpenVinoTaskModel):
            return predictor.model.forward_logits(features, predictor.batch_size, pad_token_id)
        rows, _ = forward_logits(
            predictor.model,
            features,
            predictor.batch_size,
            pad_token_id,
            predictor.device,
            predictor.precision,
        )
        return rows

    def scores_of_ids(self, sequences: Sequence[Sequence[int]]) -> np.ndarray:
        """Explained scores (n, outputs) of token id sequences, in batches of the predictor."""
        if not sequences:
            return np.zeros((0, len(self.output_names)))
        logits = torch.from_numpy(np.stack(self.logits_of_ids(sequences))).float()
        task, metadata = self.predictor.task, self.predictor.metadata
        with torch.no_grad():
            scores = task.explained_scores(task.calibrated_logits(logits, metadata))
            return scores.numpy().astype(np.float64)

    def scores_of_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Explained scores (n, outputs) of raw texts (tokenised and truncated like the model)."""
        ids = [self.encode(str(text)).input_ids for text in texts]
        return self.scores_of_ids(ids)

    def differentiable(self) -> torch.nn.Module:
        """An fp32 PyTorch model on the CPU for gradients (the predictor's when it is one).

        Raises:
            ExplainError: an ONNX run (no PyTorch weights to differentiate).
        """
        if not self.has_gradients:
            runtime = (
                "OpenVINO (tuneforge.json backend: openvino)"
                if isinstance(self.predictor.model, OpenVinoTaskModel)
                else "ONNX Runtime (tuneforge.json backend: onnxruntime)"
            )
            raise ExplainError(
                f"integrated gradients needs a PyTorch model, and this run is served by {runtime}. "
                "Use --method lime or --method shap, or explain the PyTorch run it was compressed "
                "from."
            )
        if self._fp32 is None:
            self._fp32 = self._load_fp32()
        return self._fp32

    def _load_fp32(self) -> torch.nn.Module:
        model = self.predictor.model
        assert isinstance(model, torch.nn.Module)
        parameters = list(model.parameters())
        plain = parameters and all(p.dtype == torch.float32 for p in parameters)
        # int8 dynamic quantisation swaps Linear layers for packed ones without gradients.
        quantized = any("quantized" in type(m).__module__ for m in model.modules())
        if plain and not quantized and self.predictor.precision == "fp32":
            return model
        if self.model_dir is None:
            raise ExplainError("integrated gradients needs the run folder of this model.")
        from tuneforge.predict import load_torch_model
        from tuneforge.run.layout import INFO_FILE, MODEL_DIR

        folder = self.model_dir
        folder = folder if (folder / INFO_FILE).is_file() else folder / MODEL_DIR
        return load_torch_model(folder).float().eval()


def load_explain_model(run_dir: str | Path, batch_size: int = 64) -> ExplainModel:
    """Load a run for explaining (CPU). NER runs are explained per entity span
    (explain/entities.py)."""
    from tuneforge.predict import load_predictor

    run_dir = Path(run_dir)
    predictor = load_predictor(run_dir, device="cpu", batch_size=batch_size)
    return ExplainModel(predictor=predictor, model_dir=run_dir)
