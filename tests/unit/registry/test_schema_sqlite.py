"""SQLite settings that let a server read while the CLI writes: WAL, and writers that wait for
each other instead of failing with "database is locked"."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from tuneforge.registry import Registry, open_registry
from tuneforge.registry.schema import bump_generation, write_transaction

HOLD_S = 0.6


def test_schema_sqlite_uses_wal(registry: Registry) -> None:
    with registry.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 10_000


@pytest.mark.usefixtures("no_profile")
def test_schema_sqlite_reads_and_writes_during_a_long_write(
    tmp_path: Path, finished_run: Path
) -> None:
    location = tmp_path / "registry"
    with open_registry(location) as writer:
        writer.push(finished_run, "news-topic")
    started = threading.Event()

    def hold_write_lock() -> None:
        with open_registry(location) as holder, write_transaction(holder.engine) as connection:
            bump_generation(connection)
            started.set()
            time.sleep(HOLD_S)

    thread = threading.Thread(target=hold_write_lock)
    thread.start()
    started.wait(timeout=10)
    with open_registry(location) as server, open_registry(location) as cli:
        began = time.monotonic()
        assert server.resolve("news-topic").version == 1  # a reader is not blocked
        token = server.state_token()
        read_s = time.monotonic() - began
        promoted = cli.promote("news-topic", 1, "production")  # a writer waits its turn
        write_s = time.monotonic() - began
        thread.join()
        assert read_s < HOLD_S / 2 < write_s
        assert promoted.stage == "production" and server.state_token() != token
