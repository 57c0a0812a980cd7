"""MLflow tracking through `MlflowClient` (no fluent active-run state: nothing global outlives a
run, and a search trial in a worker process can still name its study's run as parent).

mlflow-skinny is pinned below 3.18: 3.18.0 installs here but cannot open a SQLite tracking
store ("unsupported URI 'sqlite://...'"), the default this backend uses; 3.17.2 can.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from tuneforge.config import RunConfig, TrackingConfig

MAX_PARAM_CHARS = 500
"""MLflow refuses longer parameter values (6000 on recent servers, 500 on older ones)."""
SYSTEM_METRICS_SECONDS = 5
"""Seconds between CPU/memory samples; MLflow's default of 10 misses most of a short run."""


def default_uri(config: RunConfig) -> str:
    """One SQLite store beside the runs: sqlite:///<output.dir>/mlflow.db."""
    return f"sqlite:///{(Path(config.output.dir) / 'mlflow.db').resolve()}"


def artifact_location(uri: str) -> str | None:
    """Artifacts of a SQLite store go beside its database file: MLflow's own default for a
    database store is ./mlruns in whatever folder the process started in. A server (http)
    keeps its own artifact root (None)."""
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    return (database.parent / "mlflow-artifacts").resolve().as_uri()


class MlflowTracker:
    def __init__(
        self,
        settings: TrackingConfig,
        config: RunConfig,
        run_dir: Path,
        run_name: str,
        tags: dict[str, str],
        *,
        parent_run_id: str | None = None,
    ) -> None:
        from mlflow import MlflowClient

        Path(config.output.dir).mkdir(parents=True, exist_ok=True)
        self.uri = settings.uri or default_uri(config)
        self.client = MlflowClient(tracking_uri=self.uri)
        experiment_name = settings.experiment or run_name
        experiment = self.client.get_experiment_by_name(experiment_name)
        experiment_id = (
            experiment.experiment_id
            if experiment is not None
            else self.client.create_experiment(
                experiment_name, artifact_location=artifact_location(self.uri)
            )
        )
        if parent_run_id:
            tags = {**tags, "mlflow.parentRunId": parent_run_id}
        run = self.client.create_run(
            experiment_id, run_name=run_name, tags={**tags, "tuneforge.run_dir": str(run_dir)}
        )
        self.run_id = run.info.run_id
        self.monitor: Any = None
        if settings.system_metrics:
            from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

            self.monitor = SystemMetricsMonitor(
                self.run_id, sampling_interval=SYSTEM_METRICS_SECONDS, tracking_uri=self.uri
            )
            self.monitor.start()

    def log_params(self, params: dict[str, Any]) -> None:
        from mlflow.entities import Param

        values = [Param(key, str(value)[:MAX_PARAM_CHARS]) for key, value in params.items()]
        for start in range(0, len(values), 100):  # MLflow takes 100 params per batch
            self.client.log_batch(self.run_id, params=values[start : start + 100])

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(name, value, now, step) for name, value in metrics.items()]
        self.client.log_batch(self.run_id, metrics=batch)

    def log_artifacts(self, paths: list[Path]) -> None:
        for path in paths:
            self.client.log_artifact(self.run_id, str(path))

    def log_model(self, run_dir: Path) -> None:
        """The run's model as an MLflow pyfunc that predicts through tuneforge's predictor, with
        explicit pip requirements (MLflow's own inference of them imports every package)."""
        import mlflow

        from tuneforge.tracking.mlflow_model import TuneforgePyfunc, pip_requirements

        mlflow.set_tracking_uri(self.uri)
        try:
            with mlflow.start_run(run_id=self.run_id):
                mlflow.pyfunc.log_model(
                    name="model",
                    python_model=TuneforgePyfunc(),
                    artifacts={"model": str(run_dir / "model")},
                    pip_requirements=pip_requirements(),
                )
        finally:
            mlflow.set_tracking_uri(None)  # leave the process as it was

    def end(self, status: str) -> None:
        if self.monitor is not None:
            self.monitor.finish()
        self.client.set_terminated(self.run_id, status=status)
