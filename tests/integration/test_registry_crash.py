"""A push killed midway (SIGKILL, as by an OOM killer or a pulled plug) leaves the registry
usable: no half version, the previous version still resolves, predicts and is served by a running
server, the next push works. Through the installed `tuneforge` command, as a user runs it."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from _configs import TUNEFORGE, bbc_run, cli_env, run_cli

from tuneforge.predict import load_predictor
from tuneforge.registry import RegistryError, open_registry
from tuneforge.serve.process import serve_subprocess

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return bbc_run(tmp_path_factory)


def staged_copy(location: Path) -> Path | None:
    """A staging folder whose weights are copied: the push is in its reference-profile step
    (a model load and prediction, seconds long) and has not yet renamed or committed."""
    staging = location / ".staging"
    if not staging.is_dir():
        return None
    for folder in staging.iterdir():
        if (folder / "model" / "model.safetensors").is_file() and (
            folder / "metrics.json"
        ).is_file():
            return folder
    return None


def test_registry_push_killed_midway_leaves_previous_version(
    tmp_path: Path, finished_run: Path
) -> None:
    import httpx

    location = tmp_path / "registry"
    with open_registry(location) as registry:
        first = registry.push(finished_run, "news-topic", stage="production")
        _, key = registry.create_key("acme", ["news-topic"])
    server_config = {"registry": str(location), "log_level": "warning"}
    with serve_subprocess(server_config, log_path=tmp_path / "server.log") as url:
        staged = kill_a_push_midway(location, finished_run)

        # The running server never saw a version 2 and keeps answering from version 1.
        time.sleep(2.5)  # longer than the server's registry poll interval (2 s by default)
        response = httpx.post(
            f"{url}/v1/models/news-topic/predict",
            json={"inputs": ["The striker scored twice."]},
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 1
        assert httpx.get(f"{url}/readyz", timeout=10).status_code == 200

    with open_registry(location) as registry:
        assert [item.version for item in registry.versions("news-topic")] == [1]
        with pytest.raises(RegistryError, match="no version 2"):
            registry.resolve("news-topic@2")
        assert registry.resolve("news-topic") == first
        predictions = load_predictor(first.artifact_dir).predict(["The striker scored twice."])
        assert predictions[0]["label"] in first.label_names
        assert [path.name for path in (location / "artifacts" / "news-topic").iterdir()] == ["1"]

        second = registry.push(finished_run, "news-topic")
        assert second.version == 2 and second.reference_profile() is not None
        assert not staged.exists()  # the dead push's leftovers are cleaned by the next push


def kill_a_push_midway(location: Path, finished_run: Path) -> Path:
    """Start `tuneforge registry push`, SIGKILL it once its staging copy exists; the copy."""
    process = subprocess.Popen(
        [str(TUNEFORGE), "registry", "push", str(finished_run), "--name", "news-topic"],
        env=cli_env({"TUNEFORGE_REGISTRY": str(location)}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    staged = None
    while staged is None and process.poll() is None and time.monotonic() < deadline:
        staged = staged_copy(location)
        time.sleep(0.005)
    assert staged is not None, f"the push ended before it could be killed: {process.communicate()}"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert staged.is_dir()  # killed mid-push: its staging folder is left behind
    return staged


def test_registry_installed_command_prints_key_once(tmp_path: Path, finished_run: Path) -> None:
    env = {"TUNEFORGE_REGISTRY": str(tmp_path / "registry")}
    pushed = run_cli(
        "registry", "push", str(finished_run), "--name", "news-topic", cwd=tmp_path, env=env
    )
    assert pushed.returncode == 0, pushed.stderr
    assert "Pushed news-topic@1 (no stage) with a monitoring reference profile" in pushed.stderr
    created = run_cli("keys", "create", "--tenant", "acme", "--models", "*", cwd=tmp_path, env=env)
    assert created.returncode == 0, created.stderr
    assert created.stdout.count("tf_") == 1 and "tf_" not in created.stderr
    with open_registry(tmp_path / "registry") as registry:
        assert registry.authenticate(created.stdout.strip()).tenant == "acme"
    shown = run_cli("registry", "show", "news-topic@1", cwd=tmp_path, env=env)
    assert json.loads(shown.stdout)["lineage"]["reference_profile"] is True
