"""A tuneforge run as an MLflow pyfunc model: `mlflow.pyfunc.load_model(uri).predict(texts)`."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc


class TuneforgePyfunc(mlflow.pyfunc.PythonModel):
    """Predicts with `tuneforge.load_predictor` on the logged model folder."""

    def load_context(self, context: Any) -> None:
        from tuneforge.predict import load_predictor

        self.predictor = load_predictor(context.artifacts["model"])

    # No type hints on predict's inputs: MLflow would turn them into a schema it validates.
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        """Texts as a list, a Series, or a DataFrame whose first (or "text") column holds them."""
        if hasattr(model_input, "columns"):
            column = "text" if "text" in model_input.columns else model_input.columns[0]
            texts = [str(text) for text in model_input[column]]
        else:
            texts = [str(text) for text in model_input]
        return self.predictor.predict(texts)


def pip_requirements() -> list[str]:
    """The versions this model was trained with (torch without its local +cpu/+cu tag)."""
    import torch
    import transformers

    from tuneforge import __version__

    return [
        f"tuneforge=={__version__}",
        f"torch=={torch.__version__.split('+')[0]}",
        f"transformers=={transformers.__version__}",
    ]
