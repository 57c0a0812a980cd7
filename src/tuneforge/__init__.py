"""tuneforge: turn a pretrained transformer into a task model from one YAML config."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tuneforge.config import RunConfig, load_config
from tuneforge.errors import ConfigError, DataError, ModelError, RunError, TuneforgeError

if TYPE_CHECKING:
    from tuneforge.pipeline import RunResult
    from tuneforge.predict import Predictor

__version__ = "0.1.0"


def train(
    config: RunConfig | str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    show_progress: bool = True,
) -> RunResult:
    """Fine-tune as a config (object or YAML path) says; returns the run folder and test metrics.

    The process is handed back as it was found (torch threads, environment); compose the stages
    of `tuneforge.pipeline` (prepare_data, build_model, fine_tune, evaluate_model, save_run)
    for in-memory work such as a search."""
    from tuneforge.pipeline import run

    default_name = "run"
    if not isinstance(config, RunConfig):
        default_name = Path(config).stem
        config = load_config(config)
    return run(
        config,
        default_run_name=default_name,
        resume=resume,
        overwrite=overwrite,
        show_progress=show_progress,
    )


def load_predictor(run_dir: str | Path, device: str | None = None) -> Predictor:
    """Load a finished run's model for prediction."""
    from tuneforge.predict import load_predictor as _load

    return _load(run_dir, device=device)


def evaluate_run(run_dir: str | Path, data: str | Path | None = None) -> dict:
    """Metrics of a finished run on its test split or on another labelled file."""
    from tuneforge.run.evaluation import evaluate_run as _evaluate_run

    return _evaluate_run(run_dir, data)


__all__ = [
    "ConfigError",
    "DataError",
    "ModelError",
    "RunConfig",
    "RunError",
    "TuneforgeError",
    "evaluate_run",
    "load_config",
    "load_predictor",
    "train",
]
