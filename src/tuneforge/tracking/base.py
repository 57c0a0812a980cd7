"""The Tracker interface, the guard that keeps a tracking failure from stopping a run, and the
choice of backend from the config's tracking section."""

from __future__ import annotations

import logging
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from rich.markup import escape

from tuneforge.config import RunConfig, TrackingConfig
from tuneforge.console import console
from tuneforge.errors import TuneforgeError

log = logging.getLogger("tuneforge.tracking")

ARTIFACT_PATTERNS = ("metrics.json", "model_card.md", "data_report.json", "*.png", "config.yaml")
"""What a finished run folder contributes to its tracked run (never splits: they hold raw text)."""


class Tracker(Protocol):
    """One tracked run. Metrics are logged as the loop records them (train loss and learning rate
    at log steps, validation metrics at evaluations); artifacts once the run folder is written."""

    run_id: str | None
    """The backend's id of the run (MLflow), for runs nested under it; None elsewhere."""

    def log_params(self, params: dict[str, Any]) -> None: ...
    def log_metrics(self, metrics: dict[str, float], step: int) -> None: ...
    def log_artifacts(self, paths: list[Path]) -> None: ...
    def log_model(self, run_dir: Path) -> None: ...
    def end(self, status: str) -> None:
        """status: "FINISHED", "FAILED" or "KILLED"."""
        ...


class NullTracker:
    """tracking.backend: none."""

    run_id: str | None = None

    def log_params(self, params: dict[str, Any]) -> None:
        pass

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        pass

    def log_artifacts(self, paths: list[Path]) -> None:
        pass

    def log_model(self, run_dir: Path) -> None:
        pass

    def end(self, status: str) -> None:
        pass


class SafeTracker:
    """Forwards to a backend; the first exception (a tracking server down, a full disk) is
    logged as a warning and turns tracking off for the rest of the run."""

    def __init__(self, backend: Tracker, name: str) -> None:
        self.backend: Tracker | None = backend
        self.name = name
        self.run_id: str | None = getattr(backend, "run_id", None)

    def _call(self, method: str, *args: Any) -> None:
        if self.backend is None:
            return
        try:
            getattr(self.backend, method)(*args)
        except Exception as exc:  # tracking is best effort: training goes on without it
            warn_tracking_failed(self.name, method, exc)
            self.backend = None

    def log_params(self, params: dict[str, Any]) -> None:
        self._call("log_params", params)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        self._call("log_metrics", metrics, step)

    def log_artifacts(self, paths: list[Path]) -> None:
        self._call("log_artifacts", paths)

    def log_model(self, run_dir: Path) -> None:
        self._call("log_model", run_dir)

    def end(self, status: str) -> None:
        self._call("end", status)


def warn_tracking_failed(backend: str, method: str, exc: Exception) -> None:
    """One warning on the console and in the log; the message never holds data, only the error."""
    message = (
        f"{backend} tracking failed in {method} ({type(exc).__name__}: {str(exc)[:300]}); "
        "the run continues without tracking."
    )
    log.warning(message)
    console.print(f"[yellow]Warning: {escape(message)}[/]")


def run_artifacts(run_dir: Path) -> list[Path]:
    """The files of a finished run folder worth keeping beside its tracked metrics."""
    return sorted({path for pattern in ARTIFACT_PATTERNS for path in run_dir.glob(pattern)})


def open_tracker(
    config: RunConfig,
    run_dir: Path,
    *,
    run_name: str,
    parent_run_id: str | None = None,
    is_main_process: bool = True,
) -> Tracker:
    """The tracker the config's tracking section asks for (NullTracker off the main process and
    for backend none); its parameters are logged already.

    Args:
        parent_run_id: MLflow: the run this one is nested under (a search trial under its
            study's run).
    """
    settings = config.tracking
    if settings.backend == "none" or not is_main_process:
        return NullTracker()
    try:
        backend = _backend(settings, config, run_dir, run_name, parent_run_id)
    except TuneforgeError:
        raise  # the backend's package is missing: a setup error, said before training starts
    except Exception as exc:  # a tracking server down must not stop the run
        warn_tracking_failed(settings.backend, "start", exc)
        return NullTracker()
    tracker = SafeTracker(backend, settings.backend)
    tracker.log_params(flatten_params(config.model_dump(mode="json", exclude={"search"})))
    return tracker


@contextmanager
def tracked(
    tracker: Tracker, killed_by: tuple[type[BaseException], ...] = (KeyboardInterrupt,)
) -> Iterator[Tracker]:
    """Ends the tracked run as FINISHED; as KILLED when the block raises one of `killed_by`
    (Ctrl-C, a pruned search trial), as FAILED on any other exception."""
    try:
        yield tracker
    except killed_by:
        tracker.end("KILLED")
        raise
    except BaseException:
        tracker.end("FAILED")
        raise
    tracker.end("FINISHED")


def _backend(
    settings: TrackingConfig,
    config: RunConfig,
    run_dir: Path,
    run_name: str,
    parent_run_id: str | None,
) -> Tracker:
    tags = system_tags()
    try:
        if settings.backend == "mlflow":
            from tuneforge.tracking.mlflow_backend import MlflowTracker

            return MlflowTracker(
                settings, config, run_dir, run_name, tags, parent_run_id=parent_run_id
            )
        from tuneforge.tracking.tensorboard_backend import TensorBoardTracker

        return TensorBoardTracker(settings, run_dir, run_name, tags)
    except ImportError as exc:
        raise TuneforgeError(
            f"tracking.backend: {settings.backend} needs its package ({exc.name}): "
            "pip install 'tuneforge[tracking]'."
        ) from exc


def flatten_params(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"training": {"learning_rate": 1e-4}} -> {"training.learning_rate": 1e-4}; lists and None
    as their text (both backends take scalars only)."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten_params(value, f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        else:
            flat[name] = str(value)
    return flat


def system_tags() -> dict[str, str]:
    """Where the run ran: the figures a speed comparison needs beside it."""
    import torch

    from tuneforge import __version__
    from tuneforge.inference import physical_cores

    return {
        "tuneforge.version": __version__,
        "torch.version": torch.__version__,
        "python.version": platform.python_version(),
        "host.cpu": _cpu_model(),
        "host.physical_cores": str(physical_cores()),
        "host.cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
    }


class HistoryLogger:
    """A training-loop hook (after_optimizer_step and on_evaluate): sends the rows the loop added
    to its history since the last call (train loss and learning rate at log steps, eval_* at
    evaluations) to the tracker; `flush` sends what is left when training returns."""

    def __init__(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self.sent = 0

    def __call__(self, context: Any) -> None:
        self.flush(context.state.history)

    def flush(self, history: list[dict[str, Any]]) -> None:
        for row in history[self.sent :]:
            metrics = {
                name: float(value)
                for name, value in row.items()
                if name != "step"
                and isinstance(value, (int, float))
                and not isinstance(value, bool)
            }
            self.tracker.log_metrics(metrics, int(row["step"]))
        self.sent = len(history)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
