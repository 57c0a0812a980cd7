"""Version addressing and the max-loaded-models bound (LRU) of the model pool."""

from __future__ import annotations

import gc
import time
import weakref

import pytest
from _configs import bbc_run
from fastapi.testclient import TestClient

from tuneforge.registry import open_registry
from tuneforge.serve import create_app
from tuneforge.serve.config import serve_config_from_dict


def test_model_pool_keeps_at_most_max_loaded_models(serve_setup) -> None:
    config = serve_config_from_dict({"models": {"max_loaded_models": 1}})
    headers = {"Authorization": f"Bearer {serve_setup.key_all}"}
    with TestClient(create_app(config, serve_setup.registry)) as client:
        pool = client.app.state.serve["pool"]
        versions = []
        for ref in ("news@2", "news@1", "news@2", "news"):
            response = client.post(
                f"/v1/models/{ref}/predict", json={"inputs": ["a"]}, headers=headers
            )
            assert response.status_code == 200, response.text
            versions.append(response.json()["version"])
            resident = [key for key, loaded in pool.loaded.items() if not loaded.closing]
            assert len(resident) == 1
        deadline = time.monotonic() + 5
        while len(pool.loaded) > 1 and time.monotonic() < deadline:  # unloads finish async
            time.sleep(0.05)

    assert versions == [2, 1, 2, 1]
    assert len(pool.loaded) <= 1


def test_model_pool_version_that_cannot_load_does_not_take_over(
    tmp_path_factory: pytest.TempPathFactory, tmp_path
) -> None:
    registry = open_registry(tmp_path / "registry")
    run_dir = bbc_run(tmp_path_factory)
    registry.push(run_dir, "news", stage="production")
    broken = registry.push(run_dir, "news")
    weights = broken.artifact_dir / "model" / "model.safetensors"
    weights.chmod(0o644)
    weights.write_bytes(b"not safetensors")  # e.g. a disk fault after the push
    _, key = registry.create_key("acme", ["news"])
    headers = {"Authorization": f"Bearer {key}"}
    config = serve_config_from_dict({"models": {"poll_interval_s": 0.1}})

    with TestClient(create_app(config, registry)) as client:
        registry.promote("news", 2, "production")
        time.sleep(1.0)  # several polls, each retrying v2
        response = client.post("/v1/models/news/predict", json={"inputs": ["a"]}, headers=headers)
        pinned = client.post("/v1/models/news@2/predict", json={"inputs": ["a"]}, headers=headers)
        ready = client.get("/readyz")

    assert response.status_code == 200 and response.json()["version"] == 1
    assert pinned.status_code == 503 and pinned.json()["error"]["code"] == "model_unavailable"
    assert ready.status_code == 200


def test_model_pool_loads_every_backend_with_the_servers_threads(serve_setup, monkeypatch) -> None:
    # ONNX Runtime and OpenVINO take their thread count at load time (default: every core);
    # torch's is set per process. inference_threads must reach both.
    import tuneforge.predict

    real_load = tuneforge.predict.load_predictor
    calls = []

    def recording_load(*args, **kwargs):
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(tuneforge.predict, "load_predictor", recording_load)
    config = serve_config_from_dict({"models": {"inference_threads": 3}})
    headers = {"Authorization": f"Bearer {serve_setup.key_all}"}
    with TestClient(create_app(config, serve_setup.registry)) as client:
        response = client.post("/v1/models/news/predict", json={"inputs": ["a"]}, headers=headers)
    assert response.status_code == 200, response.text
    assert [call["threads"] for call in calls] == [3]


def test_model_pool_keeps_loaded_models_out_of_collections_and_frees_unloaded_ones(
    serve_setup,
) -> None:
    config = serve_config_from_dict({"models": {"max_loaded_models": 1}})
    headers = {"Authorization": f"Bearer {serve_setup.key_all}"}
    gc.unfreeze()
    try:
        with TestClient(create_app(config, serve_setup.registry)) as client:
            pool = client.app.state.serve["pool"]
            (first,) = pool.loaded.values()
            assert gc.get_freeze_count() > 0  # the loaded model is out of the collector's scans
            model = weakref.ref(first.predictor.model)
            # a reference cycle, as many libraries' objects hold: only the collector frees it
            first.predictor.model.__dict__["_test_cycle"] = [first.predictor.model]
            del first
            response = client.post(
                "/v1/models/news@2/predict", json={"inputs": ["a"]}, headers=headers
            )
            assert response.status_code == 200, response.text
            deadline = time.monotonic() + 5
            while len(pool.loaded) > 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert model() is None  # the evicted version's model was freed, frozen or not
    finally:
        gc.unfreeze()
