"""The processes of Flower's deployment runtime (a SuperLink, a SuperNode): each started in a
session of its own, with Flower's environment, and stopped with every process it started.

A SuperLink starts a `flower-superexec` in a detached session of its own, which starts one
`flwr-serverapp` per run; a SuperNode starts a `flower-superexec`, which starts one
`flwr-clientapp` per message. Stopping only the first process orphans the rest, so a stop
takes the whole tree and every process group in it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from tuneforge.errors import ConfigError

# How long a stopped process gets to exit on SIGTERM before SIGKILL.
_STOP_GRACE_SECONDS = 10.0


def flower_command(name: str) -> str:
    """The path of Flower's `name` executable: the one beside this Python (its virtual
    environment), else the first on PATH."""
    beside = Path(sys.executable).parent / name
    if beside.is_file():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise ConfigError(
            f"Flower's {name} command was not found: pip install 'tuneforge[federated]'"
        )
    return found


def flower_process_environment() -> dict[str, str]:
    """This process's environment (FLWR_HOME and the switches flower_environment set), with
    this Python's folder first on PATH: Flower starts its helper processes by name."""
    environment = dict(os.environ)
    scripts = str(Path(sys.executable).parent)
    environment["PATH"] = os.pathsep.join([scripts, environment.get("PATH", "")])
    return environment


def check_port_free(host: str, port: int, option: str) -> None:
    """Raise a clear error when something already listens on `host:port` (a process started
    there would fail, and a wait for the port would find the other listener).

    Raises:
        ConfigError: the address is in use or cannot be bound here.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(
                f"{option} {host}:{port}: cannot listen there ({error.strerror})"
            ) from None


def wait_for_port(host: str, port: int, process: subprocess.Popen, timeout: float) -> None:
    """Wait until `host:port` accepts connections.

    Raises:
        ConfigError: `process` exited first, or the port stayed closed for `timeout` seconds.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise ConfigError(
                f"{Path(str(process.args[0])).name} exited with status {process.returncode} "
                "before it listened (see its log)"
            )
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1):
            return
        time.sleep(0.2)
    raise ConfigError(f"nothing listened on {host}:{port} after {timeout:.0f} s")


@contextlib.contextmanager
def flower_process(args: Sequence[str], log_file: Path) -> Iterator[subprocess.Popen]:
    """Start `args` in a new session, its output appended to `log_file`, and stop it and every
    process it started when the block ends, however it ends."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        process = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=flower_process_environment(),
            start_new_session=True,
        )
    try:
        yield process
    finally:
        stop_process_tree(process)


def stop_process_tree(process: subprocess.Popen) -> None:
    """SIGTERM `process`, its descendants and every process group among them; SIGKILL what is
    left after a grace period; reap `process`."""
    import psutil

    try:
        root = psutil.Process(process.pid)
        family = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        family = []
    groups = {process.pid}
    for member in family:
        with contextlib.suppress(OSError):
            groups.add(os.getpgid(member.pid))
    groups.discard(os.getpgrp())  # never this process's own group
    _signal(family, groups, signal.SIGTERM)
    _, alive = psutil.wait_procs(family, timeout=_STOP_GRACE_SECONDS)
    # A helper started between the snapshot and the signal is in one of the groups.
    _signal(alive, groups, signal.SIGKILL)
    psutil.wait_procs(alive, timeout=_STOP_GRACE_SECONDS)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=_STOP_GRACE_SECONDS)


def _signal(members: list, groups: set[int], number: int) -> None:
    import psutil

    for member in members:
        with contextlib.suppress(psutil.Error):
            member.send_signal(number)
    for group in groups:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, number)


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """SIGTERM stops a site like Ctrl-C (a service manager's stop), so its processes are
    stopped too."""

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
