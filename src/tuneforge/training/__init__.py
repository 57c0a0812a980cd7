"""The training stage: the loop, its hook points and its checkpoints."""

from tuneforge.training.hooks import TrainingHooks
from tuneforge.training.loop import (
    FitSetup,
    StepContext,
    TrainingInterrupted,
    TrainState,
    count_steps,
    fit,
)

__all__ = [
    "FitSetup",
    "StepContext",
    "TrainState",
    "TrainingHooks",
    "TrainingInterrupted",
    "count_steps",
    "fit",
]
