"""Fixtures of the registry tests: a finished tiny BBC run and a fresh registry per test."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from _configs import bbc_run

from tuneforge.registry import Registry, open_registry


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared tiny BBC classification run (tests must not change it)."""
    return bbc_run(tmp_path_factory)


@pytest.fixture
def run_copy(finished_run: Path, tmp_path: Path) -> Path:
    """A private copy of the finished run that a test may change."""
    return Path(
        shutil.copytree(
            finished_run, tmp_path / "run", ignore=shutil.ignore_patterns("checkpoints")
        )
    )


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    with open_registry(tmp_path / "registry") as opened:
        yield opened


@pytest.fixture
def no_profile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Skip the monitoring reference profile (a model load and prediction per push) in tests
    about something else; tests of the profile itself do not use this."""
    monkeypatch.setattr(
        "tuneforge.registry.store.write_reference_profile", lambda folder, splits_from: False
    )
