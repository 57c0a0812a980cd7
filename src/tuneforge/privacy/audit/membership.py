"""Who is a member: the audited sample of training rows and held-out rows, rebuilt from a
finished run, and the logit-scaled confidence φ of the target model on it.

A run folder keeps its held-out splits but not its training rows; the data stage is seeded, so
re-running it on the run's saved config gives back the training split, and the saved test
split must come out identical (else the data changed since training and membership is unknown).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tuneforge.errors import ConfigError, RunError
from tuneforge.run import layout

if TYPE_CHECKING:
    from tuneforge.data.records import Record
    from tuneforge.pipeline import PreparedData

MIN_EXAMPLES_PER_SIDE = 20
"""Fewer audited members or non-members than this and chance alone moves the AUC by more than
±0.18 (95%): the audit refuses rather than report noise."""


@dataclass(frozen=True)
class AuditSettings:
    """What `tuneforge privacy audit` runs."""

    shadows: int = 4
    """Shadow models for LiRA; each trains on a random half of the audited pool (CPU default:
    small; Carlini et al. 2022 use 64-256, and the attack gets stronger with more)."""
    shadow_epochs: float | None = None
    """Epochs per shadow (None: the run's own training.epochs / max_steps)."""
    max_examples: int = 500
    """Members and non-members audited at most (each side; a seeded sample)."""
    seed: int = 0
    include_validation: bool = False
    """Also count the validation split as non-members. Off by default: the run picked its best
    checkpoint (and multilabel thresholds) on it, a weak but real dependence on those rows."""
    variance: str = "auto"
    """LiRA variance: auto, fixed or per-example (lira.py)."""

    def check(self) -> None:
        """Raises ConfigError naming the option that is wrong."""
        if self.shadows < 2:
            raise ConfigError(
                f"--shadows must be at least 2 (got {self.shadows}): LiRA compares models that "
                "trained on an example with models that did not, and needs one of each."
            )
        if self.max_examples < MIN_EXAMPLES_PER_SIDE:
            raise ConfigError(
                f"--max-examples must be at least {MIN_EXAMPLES_PER_SIDE} (got "
                f"{self.max_examples}): fewer examples cannot tell an attack from chance."
            )
        if self.shadow_epochs is not None and self.shadow_epochs <= 0:
            raise ConfigError(f"--shadow-epochs must be positive (got {self.shadow_epochs}).")
        if self.variance not in ("auto", "fixed", "per-example"):
            raise ConfigError(
                f"--variance: {self.variance!r} is not one of auto, fixed, per-example."
            )


@dataclass(frozen=True)
class MembershipPool:
    """The audited examples: members first, then non-members, in equal numbers."""

    records: list[Record]
    features: list[dict[str, Any]]
    is_member: np.ndarray
    always_in: list[dict[str, Any]]
    """Features of the training rows outside the sample: every shadow trains on them, so a
    shadow sees about as much data as the target did."""
    non_member_splits: tuple[str, ...]


def check_auditable(run_dir: Path, data: PreparedData, config: Any) -> None:
    """Raises RunError when the run's task or settings give no per-example confidence, or the
    rebuilt data is not the data the run trained on."""
    task = data.task
    probe = data.features["train"][:1]
    if task.true_label_logit(np.zeros((len(probe), len(data.names))), probe) is None:
        raise RunError(
            f"{run_dir}: the {task.name} task gives no probability of an example's true label, "
            "which membership inference scores. The audit supports classification (binary and "
            "multiclass) and multilabel runs."
        )
    if config.model.long_text_settings:
        raise RunError(
            f"{run_dir}: the run reads long texts in windows (model.long_text); the audit scores "
            "one input per example and supports model.long_text: truncate runs only."
        )
    saved = layout.read_records(run_dir / layout.SPLITS_DIR / "test.jsonl")
    if [(r.text, r.label) for r in saved] != [(r.text, r.label) for r in data.records("test")]:
        raise RunError(
            f"{run_dir}: re-reading the run's data ({config.data.source}) gives another test "
            "split than the one saved with the run: the data changed since training, so which "
            "rows the model trained on is unknown. Audit with the data the run used."
        )


def membership_pool(data: PreparedData, settings: AuditSettings) -> MembershipPool:
    """A seeded, balanced sample of training rows (members) and held-out rows (non-members).

    Augmented copies are neither audited nor given to shadows: their originals are the rows
    that carry membership.

    Raises:
        DataError: fewer than MIN_EXAMPLES_PER_SIDE held-out or training rows.
    """
    from tuneforge.errors import DataError

    splits = ("test", "validation") if settings.include_validation else ("test",)
    train = [i for i, record in enumerate(data.records("train")) if not record.augmented]
    held = [(split, i) for split in splits for i in range(len(data.records(split)))]
    size = min(len(train), len(held), settings.max_examples)
    if size < MIN_EXAMPLES_PER_SIDE:
        raise DataError(
            f"Only {len(held)} held-out rows ({' + '.join(splits)} split) and {len(train)} "
            f"training rows: the audit needs at least {MIN_EXAMPLES_PER_SIDE} of each. Train "
            "with a larger data.split.test_ratio or more data"
            + ("" if settings.include_validation else ", or pass --include-validation")
            + "."
        )
    rng = np.random.default_rng(settings.seed)
    members = sorted(rng.choice(train, size=size, replace=False).tolist())
    chosen = set(members)
    non_members = [held[i] for i in sorted(rng.choice(len(held), size=size, replace=False))]
    records = [data.records("train")[i] for i in members] + [
        data.records(split)[i] for split, i in non_members
    ]
    features = [data.features["train"][i] for i in members] + [
        data.features[split][i] for split, i in non_members
    ]
    always_in = [data.features["train"][i] for i in train if i not in chosen]
    is_member = np.arange(2 * size) < size
    return MembershipPool(records, features, is_member, always_in, splits)


def target_confidence(
    run_dir: Path, data: PreparedData, pool: MembershipPool, config: Any
) -> np.ndarray:
    """φ of the run's saved model on the pool, loaded like a server loads it."""
    from tuneforge.predict import load_predictor

    predictor = load_predictor(run_dir, batch_size=config.evaluation.batch_size)
    if predictor.label_names != data.names:
        raise RunError(
            f"{run_dir}: the saved model's labels {predictor.label_names[:10]} differ from the "
            f"labels of the re-read data {data.names[:10]}: the data changed since training."
        )
    logits, features = predictor.logits(pool.records)
    return np.asarray(data.task.true_label_logit(logits, features), np.float64)


def shadow_data(data: PreparedData, pool: MembershipPool, keep: np.ndarray) -> PreparedData:
    """The data one shadow sees: the always-IN rows and its IN half of the pool to train on, the
    run's validation split to pick its checkpoint, and the whole pool as "test" to score."""
    train = pool.always_in + [
        feature for feature, kept in zip(pool.features, keep, strict=True) if kept
    ]
    splits = dataclasses.replace(data.splits, test=list(pool.records))
    features = {**data.features, "train": train, "test": list(pool.features)}
    return dataclasses.replace(data, splits=splits, features=features)
