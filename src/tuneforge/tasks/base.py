"""The Task protocol: everything that differs between task heads, as one typed value.

The pipeline, the training loop, evaluation, prediction, compression and monitoring hold a
``Task`` and call its methods; they never compare task-type strings. A new kind of task (text
generation next) is one new module here with one class that fills in this protocol.

``TaskDefaults`` holds the behaviour most tasks share; a task class lists it as a base only to
take those defaults (the Protocol is the interface, the base class adds no state).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

import numpy as np
import torch

from tuneforge.data.records import Record
from tuneforge.tasks._encoding import Features
from tuneforge.tasks._weighting import ClassWeighting, LossTerm

# How monitoring summarises a task's predictions: a distribution over classes (one per input),
# per-label positive rates (labels co-occur), or a numeric distribution.
ClassStatistic = Literal["predicted_class", "label_positive_rate", "entity_type", "predicted_value"]
PaddingSide = Literal["right", "left"]


@runtime_checkable
class Task(Protocol):
    """What a task head is: how labels become features, logits become metrics and predictions."""

    name: ClassVar[str]
    """The config's task.type value."""
    auto_class: ClassVar[str]
    """The transformers Auto class of the head, e.g. AutoModelForSequenceClassification."""
    default_metric: ClassVar[str]
    """Validation metric that picks the best checkpoint when training.metric_for_best is unset."""
    peft_task_type: ClassVar[str]
    """peft's TaskType value of the head: SEQ_CLS, TOKEN_CLS (CAUSAL_LM for generation)."""
    class_statistic: ClassVar[ClassStatistic]
    """What monitoring compares between reference and live traffic."""
    padding_side: ClassVar[PaddingSide]
    """Where batches are padded: right for encoders; left for decoders that generate."""
    has_classes: ClassVar[bool]
    """Whether labels are classes (imbalance, baselines and unseen-class checks apply)."""
    sequence_level: ClassVar[bool]
    """One output per text (not per token): long texts can be read in windows whose logits
    are pooled (model.long_text: chunks)."""

    def label_names(self, records: list[Record], declared: list[str] | None) -> list[str]: ...

    def fit_metadata(self, train: list[Record], names: list[str]) -> dict[str, Any]: ...

    def head_config(self, names: list[str], metadata: dict[str, Any]) -> dict[str, Any]: ...

    def encode(
        self,
        records: list[Record],
        tokenizer: Any,
        names: list[str],
        max_seq_length: int,
        metadata: dict[str, Any],
    ) -> list[Features]: ...

    def stack_logits(self, rows: list[np.ndarray]) -> Any: ...

    def tune_metadata(
        self,
        logits: Any,
        records: list[Record],
        names: list[str],
        metadata: dict[str, Any],
        config: Any,
    ) -> dict[str, Any]: ...

    def compute_metrics(
        self,
        logits: Any,
        records: list[Record],
        features: list[Features],
        names: list[str],
        metadata: dict[str, Any],
        config: Any,
    ) -> dict[str, Any]: ...

    def predict(
        self,
        logits: Any,
        texts: list[str],
        features: list[Features],
        names: list[str],
        metadata: dict[str, Any],
    ) -> list[dict[str, Any]]: ...

    def unlabelled_record(self, text: str, index: int) -> Record: ...

    def soft_label_loss(
        self,
        student_logits: torch.Tensor,
        teacher_logits: torch.Tensor,
        temperature: float,
        labels: torch.Tensor | None,
    ) -> torch.Tensor: ...

    def observed_classes(self, prediction: dict[str, Any]) -> tuple[str, ...]: ...

    def class_probabilities(self, logits: Any) -> np.ndarray | None:
        """(n, classes) probabilities summing to one per text, for tasks that pick exactly one
        class per text (what label-flipping attacks need); None for every other task."""
        ...

    def true_label_logit(self, logits: Any, features: list[Features]) -> np.ndarray | None:
        """(n,) logit-scaled confidence of each example's true label, log(p / (1 - p)) with p
        the probability the model gives the whole true label (Carlini et al. 2022, the score of
        membership inference); None where the head gives no probability of the true label."""
        ...

    def observed_confidence(self, prediction: dict[str, Any]) -> float | None: ...

    def observed_value(self, prediction: dict[str, Any]) -> float | None: ...

    def class_categories(self, names: list[str]) -> list[str]: ...

    def label_items(self, record: Record) -> tuple[str, ...]: ...

    def class_weighting(
        self, train: list[Features], names: list[str], mode: str
    ) -> tuple[ClassWeighting | None, LossTerm | None]:
        """What training.class_weighting decides on the training features, and the loss term
        that applies it (None: the model's own loss)."""
        ...

    def per_example_loss_term(self) -> LossTerm | None:
        """A loss term that makes the batch loss the mean of per-example losses, for DP-SGD's
        per-example clipping, where the model's own loss is not one (a mean over all tokens of
        the batch couples the examples); None: the model's loss already is."""
        ...

    def balanced_sampling_keys(self, train: list[Features]) -> list[int] | None:
        """One class id per training example for a class-balanced sampler; None: the task has
        no single class per example."""
        ...

    def score_baselines(
        self,
        train: list[Record],
        evaluated: list[Record],
        names: list[str],
        config: Any,
    ) -> dict[str, dict[str, Any]] | None:
        """Trivial and classical models (majority class, TF-IDF + logistic regression) fitted on
        `train` and scored on `evaluated` with this task's metrics; None: no baseline applies."""
        ...

    def explained_scores(self, logits: torch.Tensor) -> torch.Tensor:
        """What token attributions explain, one column per output, differentiable: class
        probabilities, per-label probabilities or the predicted value (explain/).

        Raises:
            ExplainError: the task has no single output per text to explain.
        """
        ...

    def explained_value(self, score: float, metadata: dict[str, Any]) -> float:
        """One of `explained_scores` in the units `predict` reports (a regression value in
        the target's units rather than standardised ones)."""
        ...

    def calibrated_logits(self, logits: Any, metadata: dict[str, Any]) -> Any:
        """Logits as `predict` turns them into scores (a classifier's over its fitted
        temperature), numpy or torch alike: what explanations score, so theirs match."""
        ...


class TaskDefaults:
    """Defaults shared by most tasks: sequence-level logits, no metadata to fit or tune, no
    confidence or value to monitor, classes named by the label names."""

    padding_side: ClassVar[PaddingSide] = "right"
    has_classes: ClassVar[bool] = False
    sequence_level: ClassVar[bool] = True

    def fit_metadata(self, train: list[Record], names: list[str]) -> dict[str, Any]:
        return {}

    def stack_logits(self, rows: list[np.ndarray]) -> Any:
        """One (n, labels) array: the per-example logits of a sequence-level head."""
        return np.stack(rows) if rows else np.zeros((0, 0))

    def tune_metadata(
        self,
        logits: Any,
        records: list[Record],
        names: list[str],
        metadata: dict[str, Any],
        config: Any,
    ) -> dict[str, Any]:
        return metadata

    def unlabelled_record(self, text: str, index: int) -> Record:
        return Record(text=text, label=None, source=f"input:{index + 1}")

    def observed_classes(self, prediction: dict[str, Any]) -> tuple[str, ...]:
        return ()

    def class_probabilities(self, logits: Any) -> np.ndarray | None:
        return None

    def true_label_logit(self, logits: Any, features: list[Features]) -> np.ndarray | None:
        return None

    def observed_confidence(self, prediction: dict[str, Any]) -> float | None:
        return None

    def observed_value(self, prediction: dict[str, Any]) -> float | None:
        return None

    def class_categories(self, names: list[str]) -> list[str]:
        return list(names)

    def label_items(self, record: Record) -> tuple[str, ...]:
        """The class names a labelled record carries (empty for numeric targets)."""
        label = record.label
        return tuple(label) if isinstance(label, tuple) else (str(label),)

    def class_weighting(
        self, train: list[Features], names: list[str], mode: str
    ) -> tuple[ClassWeighting | None, LossTerm | None]:
        return None, None

    def per_example_loss_term(self) -> LossTerm | None:
        return None

    def balanced_sampling_keys(self, train: list[Features]) -> list[int] | None:
        return None

    def explained_scores(self, logits: torch.Tensor) -> torch.Tensor:
        """The outputs as they are (a regression value in standardised units)."""
        return logits

    def explained_value(self, score: float, metadata: dict[str, Any]) -> float:
        return score

    def calibrated_logits(self, logits: Any, metadata: dict[str, Any]) -> Any:
        return logits

    def score_baselines(
        self,
        train: list[Record],
        evaluated: list[Record],
        names: list[str],
        config: Any,
    ) -> dict[str, dict[str, Any]] | None:
        return None
