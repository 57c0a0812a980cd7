"""Explanations of a run's predictions: word attributions (integrated gradients, LIME, SHAP),
their faithfulness (ERASER), HTML reports and embedding maps.

Captum, lime and shap come with the optional extra: pip install 'tuneforge[explain]'.
"""

from tuneforge.explain.attributions import (
    METHODS,
    ExplainSettings,
    explain_text,
    explain_texts,
)
from tuneforge.explain.model import ExplainModel, load_explain_model

__all__ = [
    "METHODS",
    "ExplainModel",
    "ExplainSettings",
    "explain_text",
    "explain_texts",
    "load_explain_model",
]
