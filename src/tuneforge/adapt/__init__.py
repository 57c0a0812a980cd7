"""Adaptation stage: full fine-tuning, peft methods and in-house bottleneck adapters.

Verbs: ``apply_adaptation`` before training, ``after_optimizer_step_hook`` inside the loop
(AdaLoRA), ``count_parameters`` for the report, ``save_adapted_model`` / ``load_adapted_model``
for the run folder.
"""

from tuneforge.adapt.adaptation import apply_adaptation, count_parameters
from tuneforge.adapt.peft_methods import after_optimizer_step_hook
from tuneforge.adapt.storage import load_adapted_model, save_adapted_model

__all__ = [
    "after_optimizer_step_hook",
    "apply_adaptation",
    "count_parameters",
    "load_adapted_model",
    "save_adapted_model",
]
