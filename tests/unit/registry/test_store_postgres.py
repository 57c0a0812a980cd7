"""The same registry on PostgreSQL (the issue's "SQLAlchemy URL for PostgreSQL"): a throwaway
server in a temporary folder, reached over a Unix socket. Skipped where PostgreSQL's binaries or
the psycopg driver are missing."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tuneforge.registry import RegistryError, open_registry

from ._concurrency import push_concurrently

pytestmark = pytest.mark.integration
POSTGRES_BIN = shutil.which("postgres")
INITDB_BIN = shutil.which("initdb")


# PostgreSQL refuses to run as root (containers, CI): the child then switches to the postgres
# account itself (no wrapper process, so signals reach the server).
SERVER_USER = {"user": "postgres", "group": "postgres"} if os.geteuid() == 0 else {}


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    pytest.importorskip("psycopg", reason="the PostgreSQL driver: pip install 'psycopg[binary]'")
    if POSTGRES_BIN is None or INITDB_BIN is None:
        pytest.skip("PostgreSQL server binaries (postgres, initdb) are not installed")
    # Not under pytest's tmp folder: that one is private to the test user (mode 0700), and the
    # server may run as another account.
    folder = Path(tempfile.mkdtemp(prefix="tuneforge-postgres-"))
    data, socket_dir = folder / "data", folder / "socket"
    socket_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        shutil.chown(socket_dir, "postgres")
    subprocess.run(
        [INITDB_BIN, "-D", str(data), "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
        cwd=folder,
        **SERVER_USER,
    )
    server = subprocess.Popen(
        [POSTGRES_BIN, "-D", str(data), "-k", str(socket_dir), "-c", "listen_addresses="],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=folder,
        **SERVER_USER,
    )
    deadline = time.monotonic() + 30
    while not (socket_dir / ".s.PGSQL.5432").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # the socket appears a moment before connections are accepted
    try:
        yield f"postgresql+psycopg://postgres@/postgres?host={socket_dir}"
    finally:
        server.send_signal(signal.SIGINT)  # "fast" shutdown: no waiting for idle sessions
        server.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.usefixtures("no_profile")
def test_store_postgres_versions_stages_and_keys(
    postgres_url: str, tmp_path: Path, finished_run: Path
) -> None:
    location = tmp_path / "registry"
    with open_registry(location, database_url=postgres_url) as registry:
        token = registry.state_token()
        registry.push(finished_run, "news-topic")
        registry.promote("news-topic", 1, "production")
        assert not (location / "registry.db").exists()  # metadata went to PostgreSQL

        assert sorted(push_concurrently(location, finished_run, 3, postgres_url)) == [2, 3, 4]

        registry.promote("news-topic", 3, "production")
        stages = [item.stage for item in registry.versions("news-topic")]
        assert stages == ["archived", None, "production", None]
        assert registry.resolve("news-topic").version == 3
        assert registry.state_token() != token
        with pytest.raises(RegistryError, match="no version 9"):
            registry.resolve("news-topic@9")

        key, secret = registry.create_key("acme", ["news-topic"], rate_limit_per_minute=60)
        assert registry.authenticate(secret) == key
        registry.revoke_key(key.key_id)
        assert registry.authenticate(secret) is None


def test_store_postgres_unreachable_is_a_user_error(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(RegistryError, match="Cannot open the registry database"):
        open_registry(
            tmp_path / "registry",
            database_url=f"postgresql+psycopg://nobody@/none?host={tmp_path}&connect_timeout=2",
        )
