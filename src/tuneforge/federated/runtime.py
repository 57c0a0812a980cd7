"""Process-wide settings of a Flower run, put back afterwards.

Flower keeps its state under FLWR_HOME (default ~/.flwr), checks PyPI for updates, sends
telemetry events and rewrites PYTHONPATH for its Ray workers, and ray.init sets RAY_*, KMP_*
and PYTHONBREAKPOINT in the driver; a run keeps Flower's state inside the run folder and
offline, and puts the whole environment back as it found it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

from tuneforge.errors import ConfigError

FLOWER_HOME_DIR = ".flwr"


@contextlib.contextmanager
def flower_environment(run_dir: Path) -> Iterator[None]:
    """FLWR_HOME in `run_dir`, Flower's update check and telemetry off (set before flwr is
    imported: it reads the telemetry switch at import)."""
    previous = dict(os.environ)
    home = run_dir / FLOWER_HOME_DIR
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update(
        FLWR_HOME=str(home.resolve()),
        FLWR_DISABLE_UPDATE_CHECK="1",
        FLWR_TELEMETRY_ENABLED="0",
        # Ray's future behaviour (leave the accelerator variables alone when no GPU is asked
        # for) now, without its warning on every run.
        RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO="0",
    )
    try:
        yield
    finally:
        for name in set(os.environ) - set(previous):
            del os.environ[name]
        os.environ.update(previous)


def require_flower() -> None:
    """Raise a clear error when the federated extra is missing (without importing flwr, which
    must first see FLWR_TELEMETRY_ENABLED=0)."""
    missing = [name for name in ("flwr", "ray") if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            "tuneforge federate runs on Flower: pip install 'tuneforge[federated]' "
            f"({', '.join(missing)} missing)"
        )
