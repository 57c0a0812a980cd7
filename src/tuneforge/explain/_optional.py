"""Import the explain extra's engines with an error that names what to install."""

from __future__ import annotations

import importlib
from types import ModuleType

from tuneforge.errors import ExplainError


def require(module: str, package: str) -> ModuleType:
    """Import `module` (Captum, lime, shap, umap) or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = "umap" if package == "umap-learn" else "explain"
        raise ExplainError(
            f"this needs the {package} package, which is not installed: "
            f"pip install 'tuneforge[{extra}]'"
        ) from exc
