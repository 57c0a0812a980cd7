"""Runs that must not become versions, and pushes that fail midway: nothing is left visible and
the previous version still resolves and loads."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from tuneforge.predict import load_predictor
from tuneforge.registry import Registry, RegistryError, artifacts


@pytest.mark.parametrize("suffix", [".bin", ".pt", ".pth", ".pkl", ".ckpt"])
def test_store_refuses_pickle_weights(registry: Registry, run_copy: Path, suffix: str) -> None:
    (run_copy / "model" / f"pytorch_model{suffix}").write_bytes(b"\x80\x04pickled")
    with pytest.raises(RegistryError, match=rf"pickle files \(model/pytorch_model\{suffix}\)"):
        registry.push(run_copy, "news-topic")
    assert registry.list_models() == []


def test_store_refuses_model_without_safetensors(registry: Registry, run_copy: Path) -> None:
    (run_copy / "model" / "model.safetensors").unlink()
    with pytest.raises(
        RegistryError, match=r"has no \.safetensors, \.onnx or \.weights weight file"
    ):
        registry.push(run_copy, "news-topic")


@pytest.mark.parametrize(
    ("removed", "missing"),
    [("metrics.json", "metrics.json missing"), ("model", "model/tuneforge.json missing")],
)
def test_store_refuses_unfinished_run(
    registry: Registry, run_copy: Path, removed: str, missing: str
) -> None:
    target = run_copy / removed
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(RegistryError, match=f"not a finished tuneforge run: {missing}"):
        registry.push(run_copy, "news-topic")


def test_store_refuses_missing_folder_and_bad_name(registry: Registry, finished_run: Path) -> None:
    with pytest.raises(RegistryError, match="is not a folder"):
        registry.push(finished_run / "nope", "news-topic")
    with pytest.raises(RegistryError, match="Invalid model name 'News Topic'"):
        registry.push(finished_run, "News Topic")
    with pytest.raises(RegistryError, match="Unknown stage"):
        registry.push(finished_run, "news-topic", stage="prod")


def _raise(*args: object, **kwargs: object) -> None:
    raise OSError("injected failure")


def _move_then_raise(folder: Path, target: Path) -> None:
    """The rename succeeds, then the push dies before its commit."""
    ORIGINAL_MOVE(folder, target)
    raise OSError("injected failure after the rename")


ORIGINAL_MOVE = artifacts.move_into_place


@pytest.mark.usefixtures("no_profile")
@pytest.mark.parametrize(
    ("step", "replacement"),
    [
        ("tuneforge.registry.artifacts.copy_verified", _raise),
        ("tuneforge.registry.store.write_reference_profile", _raise),
        ("tuneforge.registry.store.describe_version", _raise),
        ("tuneforge.registry.artifacts.seal", _raise),
        ("tuneforge.registry.artifacts.move_into_place", _move_then_raise),
    ],
)
def test_store_failed_push_leaves_no_version(
    registry: Registry,
    finished_run: Path,
    monkeypatch: pytest.MonkeyPatch,
    step: str,
    replacement: object,
) -> None:
    first = registry.push(finished_run, "news-topic", stage="production")
    token = registry.state_token()
    monkeypatch.setattr(step, replacement)

    with pytest.raises(OSError, match="injected failure"):
        registry.push(finished_run, "news-topic", stage="production")

    assert [item.version for item in registry.versions("news-topic")] == [1]
    assert registry.resolve("news-topic") == first
    assert registry.state_token() == token
    assert [path.name for path in (registry.root / "artifacts" / "news-topic").iterdir()] == ["1"]
    assert list((registry.root / ".staging").iterdir()) == []
    assert load_predictor(first.artifact_dir).predict(["Rates rose again."])[0]["label"]

    monkeypatch.undo()
    assert registry.push(finished_run, "news-topic").version == 2


@pytest.mark.usefixtures("no_profile")
def test_store_push_discards_orphans_of_dead_pushes(registry: Registry, finished_run: Path) -> None:
    registry.push(finished_run, "news-topic")
    # What a push killed after its rename but before its commit leaves: a folder with no row.
    orphan = registry.root / "artifacts" / "news-topic" / "2"
    shutil.copytree(registry.root / "artifacts" / "news-topic" / "1", orphan)
    (orphan / "marker").write_text("orphan")
    # And one killed while copying: a staging folder whose lock nobody holds.
    dead = registry.root / ".staging" / "deadbeef"
    dead.mkdir(parents=True)
    (registry.root / ".staging" / "deadbeef.lock").touch()

    with pytest.raises(RegistryError, match="no version 2"):
        registry.resolve("news-topic@2")
    second = registry.push(finished_run, "news-topic")

    assert second.version == 2 and not (second.artifact_dir / "marker").exists()
    assert list((registry.root / ".staging").iterdir()) == []


def test_store_clean_staging_keeps_live_pushes(registry: Registry) -> None:
    staging = registry.root / ".staging"
    with artifacts.staging_folder(registry.root) as live:
        # Lock files whose folder is gone: an old one is a dead push's, a new one may be a push
        # that has not yet taken its lock.
        old, new = staging / "old.lock", staging / "new.lock"
        old.touch()
        new.touch()
        os.utime(old, (time.time() - 3600, time.time() - 3600))

        assert artifacts.clean_staging(registry.root) == []
        assert live.is_dir() and Path(f"{live}.lock").exists()
        assert not old.exists() and new.exists()
    assert not live.exists() and not Path(f"{live}.lock").exists()
