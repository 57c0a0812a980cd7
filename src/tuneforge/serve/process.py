"""Run `tuneforge serve` as a child process on a free port (benchmarks, integration tests)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from tuneforge._net import free_port
from tuneforge.errors import TuneforgeError


@dataclass(frozen=True)
class ServerChild:
    """A server started by `serve_child`: its base URL and process id (for its CPU time)."""

    url: str
    pid: int


@contextlib.contextmanager
def serve_subprocess(
    raw_config: dict[str, Any],
    startup_timeout_s: float = 120.0,
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[str]:
    """Start the server with this config (port chosen here); yield its base URL once /readyz
    answers 200; stop it (SIGTERM, then SIGKILL) on exit.

    Raises:
        TuneforgeError: the server exited or did not become ready in time (its log is quoted).
    """
    with serve_child(raw_config, startup_timeout_s, log_path, env) as child:
        yield child.url


@contextlib.contextmanager
def serve_child(
    raw_config: dict[str, Any],
    startup_timeout_s: float = 120.0,
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[ServerChild]:
    """`serve_subprocess`, yielding the child's process id with its URL."""
    port = free_port()
    config = {**raw_config, "port": port, "host": "127.0.0.1"}
    with tempfile.TemporaryDirectory(prefix="tuneforge-serve-") as folder:
        config_path = Path(folder) / "serve.yaml"
        config_path.write_text(yaml.safe_dump(config), encoding="utf-8")
        log_path = log_path or Path(folder) / "server.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "tuneforge", "serve", "--config", str(config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
            )
            base_url = f"http://127.0.0.1:{port}"
            try:
                wait_until_ready(process, f"{base_url}/readyz", startup_timeout_s, log_path)
                yield ServerChild(base_url, process.pid)
            finally:
                process.terminate()
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def wait_until_ready(
    process: subprocess.Popen[bytes], ready_url: str, timeout_s: float, log_path: Path
) -> None:
    """Poll `ready_url` until it answers 200.

    Raises:
        TuneforgeError: the process exited or `ready_url` did not answer 200 in time.
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise TuneforgeError(
                f"the server exited with code {process.returncode}:\n{_tail(log_path)}"
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(ready_url, timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise TuneforgeError(f"the server was not ready after {timeout_s:.0f} s:\n{_tail(log_path)}")


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
