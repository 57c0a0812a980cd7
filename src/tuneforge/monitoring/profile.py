"""What a model's traffic looks like: per-input observations and their summary (a profile).

The same two functions describe the reference traffic (a run's validation split, at push time)
and a live window of served requests, so that drift compares like with like.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tuneforge.tasks import get_task

PROFILE_FORMAT = 1
# Deciles: ten equally likely reference bins is the usual PSI setup (Siddiqi, "Credit Risk
# Scorecards", 2006), and enough to see a shift in shape without near-empty bins.
NUM_QUANTILE_BINS = 10
# Inner edges of the confidence histogram: finer near 1, where a healthy model's scores sit.
CONFIDENCE_BIN_EDGES = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99]
# A reference built from every example of a large validation split would take long to predict
# and gains nothing in precision past a few thousand texts.
MAX_PROFILE_EXAMPLES = 2000


@dataclass(frozen=True)
class Observation:
    """What monitoring keeps of one served input: no text, only its shape and the prediction.

    Attributes:
        classes: Predicted classes (one for classification, the positive labels for multilabel,
            the entity types found for NER, none for regression).
        value: The predicted value (regression only).
        confidence: Model confidence in [0, 1], or None when the task has none (regression,
            NER input without entities).
        length_chars: Input length in characters.
        length_tokens: Input length in tokenizer tokens (no special tokens, not truncated).
        unknown_tokens: How many of those tokens are the tokenizer's unknown token.
    """

    classes: tuple[str, ...]
    value: float | None
    confidence: float | None
    length_chars: int
    length_tokens: int
    unknown_tokens: int

    @property
    def unknown_rate(self) -> float:
        return self.unknown_tokens / self.length_tokens if self.length_tokens else 0.0


def token_counts(tokenizer: Any, texts: list[str]) -> list[tuple[int, int]]:
    """(tokens, unknown tokens) per text, without special tokens and without truncation."""
    if not texts:
        return []
    # Counting the whole text is the point here: transformers would warn (once per tokenizer)
    # that a long one "will result in indexing errors", which holds for a model, not a count.
    warned = getattr(tokenizer, "deprecation_warnings", None)
    if isinstance(warned, dict):
        warned["sequence-length-is-longer-than-the-specified-maximum"] = True
    encoded = tokenizer(texts, add_special_tokens=False, truncation=False)["input_ids"]
    unk_id = tokenizer.unk_token_id
    return [
        (len(ids), sum(1 for i in ids if i == unk_id) if unk_id is not None else 0)
        for ids in encoded
    ]


def observe(
    task_type: str, texts: list[str], predictions: list[dict[str, Any]], tokenizer: Any
) -> list[Observation]:
    """Observations of texts and their predictions (as `Predictor.predict` returns them)."""
    task = get_task(task_type)
    counts = token_counts(tokenizer, texts)
    return [
        Observation(
            classes=task.observed_classes(prediction),
            value=task.observed_value(prediction),
            confidence=task.observed_confidence(prediction),
            length_chars=len(text),
            length_tokens=tokens,
            unknown_tokens=unknown,
        )
        for text, prediction, (tokens, unknown) in zip(texts, predictions, counts, strict=True)
    ]


def summarise(
    task_type: str, label_names: list[str], observations: list[Observation]
) -> dict[str, Any]:
    """A JSON-serialisable profile of observations (the reference profile's format)."""
    confidences = [o.confidence for o in observations if o.confidence is not None]
    tokens = sum(o.length_tokens for o in observations)
    return {
        "format": PROFILE_FORMAT,
        "task": task_type,
        "label_names": list(label_names),
        "num_examples": len(observations),
        "classes": _class_summary(task_type, label_names, observations),
        "confidence": {
            "count": len(confidences),
            "mean": float(np.mean(confidences)) if confidences else None,
            "quantiles": _quantiles(confidences),
            "histogram": {
                "edges": CONFIDENCE_BIN_EDGES,
                "fractions": bin_fractions(confidences, CONFIDENCE_BIN_EDGES),
            },
        },
        "length_chars": _numeric_summary([o.length_chars for o in observations]),
        "length_tokens": _numeric_summary([o.length_tokens for o in observations]),
        "unknown_tokens": {
            "tokens": tokens,
            "unknown": sum(o.unknown_tokens for o in observations),
            "rate": sum(o.unknown_tokens for o in observations) / tokens if tokens else 0.0,
        },
    }


def _class_summary(
    task_type: str, label_names: list[str], observations: list[Observation]
) -> dict[str, Any]:
    kind = get_task(task_type).class_statistic
    if kind == "predicted_value":
        values = [o.value for o in observations if o.value is not None]
        return {"kind": kind, **_numeric_summary(values)}
    counts = Counter(name for o in observations for name in o.classes)
    ordered = {name: counts.get(name, 0) for name in class_categories(task_type, label_names)}
    if kind == "label_positive_rate":
        # Labels co-occur: the rate per input of each label, not a distribution over labels.
        total = len(observations)
        return {"kind": kind, "counts": ordered, "rates": _ratios(ordered, total)}
    return {"kind": kind, "counts": ordered, "distribution": _ratios(ordered, sum(counts.values()))}


def class_categories(task_type: str, label_names: list[str]) -> list[str]:
    """The category names of the class distribution (entity types for NER, from BIO tags)."""
    return get_task(task_type).class_categories(label_names)


def _ratios(counts: dict[str, int], total: int) -> dict[str, float]:
    return {name: (count / total if total else 0.0) for name, count in counts.items()}


def _quantiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    points = np.quantile(np.asarray(values, dtype=np.float64), [0.05, 0.25, 0.5, 0.75, 0.95])
    return {
        name: float(v) for name, v in zip(("p05", "p25", "p50", "p75", "p95"), points, strict=True)
    }


def _numeric_summary(values: list[float]) -> dict[str, Any]:
    """Mean, quantiles and decile bins (edges from these values, fractions in each bin)."""
    if not values:
        return {"count": 0, "mean": None, "quantiles": None, "bin_edges": [], "bin_fractions": []}
    array = np.asarray(values, dtype=np.float64)
    edges = quantile_edges(array)
    return {
        "count": len(values),
        "mean": float(array.mean()),
        "quantiles": _quantiles(values),
        "bin_edges": edges,
        "bin_fractions": bin_fractions(values, edges),
    }


def quantile_edges(values: np.ndarray) -> list[float]:
    """Inner edges at the deciles of the values (duplicates removed: discrete data ties)."""
    inner = np.quantile(values, np.linspace(0, 1, NUM_QUANTILE_BINS + 1)[1:-1])
    return sorted({float(edge) for edge in inner})


def bin_fractions(values: list[float], edges: list[float]) -> list[float]:
    """Fraction of values per bin; inner edges e1..ek make the bins (-inf, e1], ..., (ek, inf)."""
    if not values:
        return []
    array = np.asarray(values, dtype=np.float64)
    counts = bin_counts(array, edges)
    return (counts / counts.sum()).tolist()


def bin_counts(values: np.ndarray, edges: list[float]) -> np.ndarray:
    """Counts per bin, binned as `bin_fractions` describes."""
    index = np.searchsorted(np.asarray(edges, dtype=np.float64), values, side="left")
    return np.bincount(index, minlength=len(edges) + 1).astype(np.float64)


def build_reference_profile(
    run_dir: Path, max_examples: int = MAX_PROFILE_EXAMPLES, splits_from: Path | None = None
) -> dict:
    """Profile of a finished run's predictions on its validation split (test if that is empty).

    Args:
        run_dir: A finished run folder (with `model/`, and `splits/` unless ``splits_from``).
        max_examples: Use at most this many examples (the first ones of the split).
        splits_from: The run folder whose `splits/` to read (a registry version is profiled
            from its source run: it does not keep the data's texts).

    Returns:
        The JSON-serialisable reference profile that live traffic is compared with.

    Raises:
        RunError: the folder has no non-empty validation or test split, or no model.
    """
    from tuneforge.errors import RunError
    from tuneforge.predict import load_predictor
    from tuneforge.run.layout import SPLITS_DIR, read_records

    run_dir = Path(run_dir)
    splits_dir = Path(splits_from or run_dir) / SPLITS_DIR
    split, records = None, []
    for name in ("validation", "test"):
        path = splits_dir / f"{name}.jsonl"
        if path.is_file():
            records = read_records(path)
            if records:
                split = name
                break
    if not records:
        raise RunError(
            f"{splits_dir.parent} has no non-empty {SPLITS_DIR}/validation.jsonl or "
            f"{SPLITS_DIR}/test.jsonl: "
            "a reference profile needs examples of the traffic the model was trained for."
        )
    records = records[:max_examples]
    predictor = load_predictor(run_dir)
    texts = [record.text for record in records]
    observations = observe(
        predictor.task_type, texts, predictor.predict(texts), predictor.tokenizer
    )
    profile = summarise(predictor.task_type, predictor.label_names, observations)
    profile["source_split"] = split
    return profile
