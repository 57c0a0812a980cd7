"""Single-label classification: softmax over the classes, cross-entropy loss."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.special import logsumexp

from tuneforge.config import RunConfig
from tuneforge.data.records import Record
from tuneforge.tasks._distillation import softmax_kl
from tuneforge.tasks._encoding import Features, class_head_config, softmax, tokenize_texts
from tuneforge.tasks._weighting import (
    ClassWeighting,
    LossTerm,
    single_label_weighting,
    weighted_cross_entropy,
)
from tuneforge.tasks.base import TaskDefaults


def label_names(train: list[Record], declared: list[str] | None) -> list[str]:
    return list(declared) if declared else sorted({str(record.label) for record in train})


def head_config(names: list[str], metadata: dict[str, Any]) -> dict[str, Any]:
    return class_head_config(names, "single_label_classification")


def encode(
    records: list[Record],
    tokenizer: Any,
    names: list[str],
    max_seq_length: int,
    metadata: dict[str, Any],
) -> list[Features]:
    features = tokenize_texts(tokenizer, [record.text for record in records], max_seq_length)
    index = {name: position for position, name in enumerate(names)}
    for feature, record in zip(features, records, strict=True):
        if record.label is not None:  # unlabelled at prediction time
            feature["labels"] = index[str(record.label)]
    return features


def compute_metrics(
    logits: np.ndarray,
    records: list[Record],
    features: list[Features],
    names: list[str],
    metadata: dict[str, Any],
    config: RunConfig,
) -> dict[str, Any]:
    from tuneforge.evaluate import classification_metrics

    labels = np.array([feature["labels"] for feature in features], dtype=np.int64)
    return classification_metrics(
        labels,
        softmax(calibrated_logits(np.asarray(logits), metadata)),
        names,
        calibration_bins=config.evaluation.calibration_bins,
    )


def calibrated_logits(logits: Any, metadata: dict[str, Any]) -> Any:
    """Logits over the fitted temperature (evaluation.calibration), as they are without one;
    numpy arrays or torch tensors."""
    temperature = metadata.get("temperature")
    return logits / temperature if temperature else logits


def tune_metadata(
    logits: np.ndarray,
    records: list[Record],
    names: list[str],
    metadata: dict[str, Any],
    config: RunConfig,
) -> dict[str, Any]:
    """With evaluation.calibration: temperature, the temperature fitted on these (validation)
    logits and what it did to their NLL and calibration error."""
    if config.evaluation.calibration != "temperature" or not records:
        return metadata
    from tuneforge.evaluate.temperature import fit_temperature

    index = {name: position for position, name in enumerate(names)}
    labels = np.array([index[str(record.label)] for record in records], dtype=np.int64)
    fitted = fit_temperature(logits, labels, config.evaluation.calibration_bins)
    return {**metadata, "temperature": fitted["temperature"], "calibration": fitted}


def predict(
    logits: np.ndarray,
    texts: list[str],
    features: list[Features],
    names: list[str],
    metadata: dict[str, Any],
) -> list[dict[str, Any]]:
    probabilities = softmax(calibrated_logits(np.asarray(logits), metadata))
    predictions = []
    for row in probabilities:
        best = int(row.argmax())
        predictions.append(
            {
                "label": names[best],
                "score": float(row[best]),
                "probabilities": {name: float(p) for name, p in zip(names, row, strict=True)},
            }
        )
    return predictions


class ClassificationTask(TaskDefaults):
    """One class per text: softmax head, cross-entropy loss."""

    name = "classification"
    auto_class = "AutoModelForSequenceClassification"
    default_metric = "macro_f1"  # robust to class imbalance, unlike accuracy
    peft_task_type = "SEQ_CLS"
    class_statistic = "predicted_class"
    has_classes = True

    label_names = staticmethod(label_names)
    head_config = staticmethod(head_config)
    encode = staticmethod(encode)
    compute_metrics = staticmethod(compute_metrics)
    tune_metadata = staticmethod(tune_metadata)
    calibrated_logits = staticmethod(calibrated_logits)
    predict = staticmethod(predict)

    def soft_label_loss(
        self,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor,
        temperature: float,
        labels: torch.Tensor | None,
    ) -> torch.Tensor:
        return softmax_kl(student_logits, teacher_logits, temperature)

    def observed_classes(self, prediction: dict[str, Any]) -> tuple[str, ...]:
        return (prediction["label"],)

    def class_probabilities(self, logits: Any) -> np.ndarray | None:
        return softmax(np.asarray(logits))

    def true_label_logit(self, logits: Any, features: list[Features]) -> np.ndarray | None:
        # log(p / (1 - p)) = z_y - logsumexp(z_other): exact where p rounds to 1 in floating
        # point, which is where a memorised training example sits (Carlini et al. 2022, §IV-B).
        scores = np.asarray(logits, dtype=np.float64)
        rows = np.arange(len(scores))
        labels = np.array([int(feature["labels"]) for feature in features], dtype=np.int64)
        others = scores.copy()
        others[rows, labels] = -np.inf
        return scores[rows, labels] - logsumexp(others, axis=1)

    def class_weighting(
        self, train: list[Features], names: list[str], mode: str
    ) -> tuple[ClassWeighting | None, LossTerm | None]:
        weighting = single_label_weighting(self.balanced_sampling_keys(train), names, mode)
        if not weighting.applied:
            return weighting, None
        return weighting, weighted_cross_entropy([weighting.weights[name] for name in names])

    def balanced_sampling_keys(self, train: list[Features]) -> list[int]:
        return [int(feature["labels"]) for feature in train]

    def score_baselines(
        self, train: list[Record], evaluated: list[Record], names: list[str], config: RunConfig
    ) -> dict[str, dict[str, Any]]:
        from tuneforge.evaluate.baselines import baseline_metrics

        return baseline_metrics(
            [record.text for record in train],
            [str(record.label) for record in train],
            [record.text for record in evaluated],
            [str(record.label) for record in evaluated],
            names,
            multilabel=False,
            seed=config.training.seed,
            calibration_bins=config.evaluation.calibration_bins,
        )

    def observed_confidence(self, prediction: dict[str, Any]) -> float | None:
        return float(prediction["score"])

    def explained_scores(self, logits: torch.Tensor) -> torch.Tensor:
        """Class probabilities: a faithfulness drop is a drop in the predicted class's
        probability (ERASER, DeYoung et al. 2020)."""
        return torch.softmax(logits.float(), dim=-1)


TASK = ClassificationTask()
