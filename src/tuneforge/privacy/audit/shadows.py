"""Shadow models for LiRA: the run's own recipe (config, adaptation, and whatever private
training its config asks for) fine-tuned in memory on halves of the audited pool."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from tuneforge.console import CountedProgress
from tuneforge.privacy.audit.membership import MembershipPool, shadow_data

if TYPE_CHECKING:
    from tuneforge.pipeline import PreparedData


def shadow_config(config: Any, index: int, epochs: float | None) -> Any:
    """The run's config for shadow `index`: its own seed (shadows are independent trainings,
    like the target's; sharing the target's seed would share its head initialisation and batch
    order), and `epochs` instead of the run's length when given."""
    copy = config.model_copy(deep=True)
    copy.training.seed = config.training.seed + 1 + index
    if epochs is not None:
        copy.training.epochs = epochs
        copy.training.max_steps = None
    return copy


def train_shadows(
    config: Any,
    data: PreparedData,
    pool: MembershipPool,
    keep: np.ndarray,
    epochs: float | None = None,
    show_progress: bool = True,
) -> np.ndarray:
    """(shadows, pool) φ of each shadow on every pooled example; shadow s trains on keep[s].

    Nothing is written: `pipeline.fine_tune` is the in-memory stage.
    """
    from tuneforge.pipeline import build_model, evaluate_model, fine_tune

    task = data.task
    confidences = []
    with CountedProgress("shadow models", len(keep), show_progress) as bar:
        for index, kept in enumerate(keep):
            recipe = shadow_config(config, index, epochs)
            seen = shadow_data(data, pool, kept)
            model = build_model(recipe, seen)
            result = fine_tune(model, task, seen, recipe, show_progress=False)
            scored = evaluate_model(
                result.model, task, seen, "test", recipe, result.precision, result.metadata
            )
            confidences.append(task.true_label_logit(scored.logits, scored.features))
            del model, result
            bar.advance()
    return np.asarray(confidences, np.float64)
