"""Experiment tracking: real one-layer runs tracked to MLflow (SQLite) and TensorBoard, read back
with each tool's own reader; a tracking failure warns and the run finishes anyway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from _configs import tiny_config

from tuneforge.config import config_from_dict
from tuneforge.pipeline import run
from tuneforge.tracking.base import NullTracker, SafeTracker, flatten_params

TRACKED_TRAINING = {"max_steps": 4, "eval_every_steps": 2, "log_every_steps": 1}


def tracked_run(folder: Path, **tracking: Any) -> Path:
    raw = tiny_config(folder, data={"max_examples": 60}, training=TRACKED_TRAINING)
    raw["tracking"] = tracking
    return run(config_from_dict(raw, config_dir=str(folder)), show_progress=False).run_dir


@pytest.fixture(scope="module")
def mlflow_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    run_dir = tracked_run(
        folder, backend="mlflow", uri=uri, experiment="bbc", log_model=True, system_metrics=False
    )
    return run_dir, uri


def only_run(uri: str) -> Any:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    experiment = client.get_experiment_by_name("bbc")
    (found,) = client.search_runs([experiment.experiment_id])
    return client, found


def test_tracking_mlflow_records_params_every_logged_metric_and_the_end(mlflow_run) -> None:
    run_dir, uri = mlflow_run
    client, found = only_run(uri)
    assert found.info.status == "FINISHED"
    assert found.data.params["training.learning_rate"] == "0.0001"
    assert found.data.params["model.num_hidden_layers"] == "1"
    assert found.data.tags["host.physical_cores"]
    # log_every_steps 1 and max_steps 4: the train loss at steps 1..4, validation at 2 and 4.
    train_loss = client.get_metric_history(found.info.run_id, "train_loss")
    assert [m.step for m in train_loss] == [1, 2, 3, 4]
    assert [m.step for m in client.get_metric_history(found.info.run_id, "eval_macro_f1")] == [2, 4]
    assert "test_macro_f1" in found.data.metrics
    import json

    saved = json.loads((run_dir / "metrics.json").read_text())
    assert found.data.metrics["test_macro_f1"] == pytest.approx(saved["test"]["macro_f1"])


def test_tracking_mlflow_keeps_run_files_but_never_the_splits(mlflow_run) -> None:
    _, uri = mlflow_run
    client, found = only_run(uri)
    names = {item.path for item in client.list_artifacts(found.info.run_id)}
    assert {"metrics.json", "model_card.md", "config.yaml", "confusion_matrix.png"} <= names
    assert not any("split" in name or name.endswith(".jsonl") for name in names)


def test_tracking_mlflow_artifacts_stay_beside_the_database(mlflow_run) -> None:
    _, uri = mlflow_run
    _, found = only_run(uri)
    database_dir = Path(uri.removeprefix("sqlite:///")).parent
    assert found.info.artifact_uri.startswith((database_dir / "mlflow-artifacts").as_uri())
    assert any((database_dir / "mlflow-artifacts").rglob("model.safetensors"))
    assert not (Path.cwd() / "mlruns").exists()


def test_tracking_mlflow_logged_model_predicts(mlflow_run) -> None:
    import mlflow

    _, uri = mlflow_run
    _, found = only_run(uri)
    mlflow.set_tracking_uri(uri)
    try:
        model = mlflow.pyfunc.load_model(f"runs:/{found.info.run_id}/model")
        predictions = model.predict(["The striker scored twice in the final."])
        requirements = Path(
            mlflow.pyfunc.get_model_dependencies(f"runs:/{found.info.run_id}/model")
        ).read_text()
    finally:
        mlflow.set_tracking_uri(None)
    assert predictions[0]["label"] in {"business", "entertainment", "politics", "sports", "tech"}
    assert "tuneforge==" in requirements and "torch==" in requirements


def test_tracking_tensorboard_writes_scalars_images_and_hparams(tmp_path: Path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = tracked_run(tmp_path, backend="tensorboard")
    events = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"images": 0})
    events.Reload()
    tags = events.Tags()
    assert [e.step for e in events.Scalars("train_loss")] == [1, 2, 3, 4]
    assert [e.step for e in events.Scalars("eval_macro_f1")] == [2, 4]
    assert "test_macro_f1" in tags["scalars"]
    assert "training_curves" in tags["images"]


def test_tracking_failure_mid_run_warns_and_the_run_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tuneforge.tracking.tensorboard_backend import TensorBoardTracker

    def broken(self, metrics, step):
        raise OSError("No space left on device")

    monkeypatch.setattr(TensorBoardTracker, "log_metrics", broken)
    run_dir = tracked_run(tmp_path, backend="tensorboard")
    assert (run_dir / "metrics.json").is_file()
    err = capsys.readouterr().err
    assert err.count("tensorboard tracking failed in log_metrics") == 1
    assert "the run continues without tracking" in err


def test_tracking_server_unreachable_at_start_warns_and_the_run_finishes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A SQLite file in a folder that cannot exist (a file stands where the folder would be).
    (tmp_path / "blocker").write_text("")
    run_dir = tracked_run(
        tmp_path, backend="mlflow", uri=f"sqlite:///{tmp_path / 'blocker' / 'x.db'}"
    )
    assert (run_dir / "metrics.json").is_file()
    assert "mlflow tracking failed in start" in capsys.readouterr().err


def test_tracking_safe_tracker_turns_off_after_the_first_failure(capsys) -> None:
    calls = []

    class Flaky(NullTracker):
        def log_metrics(self, metrics, step):
            calls.append(step)
            raise RuntimeError("server gone")

    tracker = SafeTracker(Flaky(), "mlflow")
    tracker.log_metrics({"loss": 1.0}, 1)
    tracker.log_metrics({"loss": 0.5}, 2)
    tracker.end("FINISHED")
    assert calls == [1]
    assert capsys.readouterr().err.count("tracking failed") == 1


def test_tracking_flatten_params() -> None:
    flat = flatten_params({"training": {"learning_rate": 1e-4, "target": None}, "tags": ["a"]})
    assert flat == {"training.learning_rate": 1e-4, "training.target": "None", "tags": "['a']"}
