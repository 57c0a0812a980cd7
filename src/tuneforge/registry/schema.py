"""The registry's SQL tables and database connection (SQLite by default, any SQLAlchemy URL).

SQLAlchemy Core rather than the ORM: three small tables, and every query is written out where
it is used, so the locking that makes pushes safe stays visible.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    exc,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.engine import make_url

from tuneforge.registry.errors import RegistryError

SCHEMA_VERSION = 1
# How long a writer waits for another one (a push committing, a server polling) before SQLite
# gives up with "database is locked". Commits hold the lock for milliseconds; 30 s is generous.
SQLITE_BUSY_TIMEOUT_S = 30
_WRITE_OPTION = "tuneforge_write"

metadata = MetaData()

# One row: an id of this registry and a counter bumped by every push and stage change. Servers
# poll it (state_token) to notice changes, and writers update it first, which serialises pushes
# (a row lock in PostgreSQL, the write lock in SQLite) so two pushes never pick the same number.
registry_state = Table(
    "registry_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("registry_id", String(32), nullable=False),
    Column("generation", Integer, nullable=False),
    Column("schema_version", Integer, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(64), nullable=False),
    Column("version", Integer, nullable=False),
    Column("stage", String(16), nullable=True),
    Column("task", String(32), nullable=False),
    Column("label_names", JSON, nullable=False),
    Column("metrics", JSON, nullable=False),
    Column("config", JSON, nullable=False),
    Column("lineage", JSON, nullable=False),
    Column("description", Text, nullable=True),
    # Relative to the registry folder, so the folder can be moved or mounted elsewhere.
    Column("artifact_path", String(512), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("stage_changed_at", String(40), nullable=True),
    UniqueConstraint("name", "version", name="uq_model_versions_name_version"),
    Index("ix_model_versions_name", "name"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", String(32), primary_key=True),
    Column("tenant", String(64), nullable=False),
    Column("models", JSON, nullable=False),
    Column("rate_limit_per_minute", Integer, nullable=True),
    Column("secret_sha256", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("revoked_at", String(40), nullable=True),
)


def connect(database_url: str) -> Engine:
    """An engine for ``database_url`` with the tables created.

    Raises:
        RegistryError: The URL is malformed, its driver is not installed, or the database
            cannot be reached.
    """
    try:
        url = make_url(database_url)
        if url.get_backend_name() == "sqlite":
            engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
            _configure_sqlite(engine)
        else:
            # pre_ping: a server keeps its engine for days; a restarted database must not make
            # the first requests after it fail on dead pooled connections.
            engine = create_engine(url, pool_pre_ping=True)
        _create_schema(engine)
    except ImportError as error:
        raise RegistryError(
            f"The database driver for {_redacted(database_url)} is not installed ({error}); "
            "for PostgreSQL: pip install 'psycopg[binary]' and use postgresql+psycopg://..."
        ) from error
    except (exc.ArgumentError, exc.NoSuchModuleError) as error:
        raise RegistryError(
            f"Cannot use database URL {_redacted(database_url)}: {error}"
        ) from error
    except exc.OperationalError as error:
        raise RegistryError(
            f"Cannot open the registry database {_redacted(database_url)}: {error.orig}"
        ) from error
    return engine


def _redacted(database_url: str) -> str:
    """The URL with its password hidden: error messages end up in logs."""
    try:
        return make_url(database_url).render_as_string(hide_password=True)
    except exc.ArgumentError:
        return repr(database_url)


def _configure_sqlite(engine: Engine) -> None:
    """WAL lets a server read while the CLI writes; BEGIN IMMEDIATE takes the write lock at the
    start of a write transaction, so a writer waits its turn (busy timeout) instead of failing
    when it upgrades a read snapshot that another writer made stale."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own implicit BEGIN (deferred, only before DML) is switched off: the
        # "begin" hook below issues the right one (SQLAlchemy's documented recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_S * 1000}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that writes: committed when the block ends, rolled back on an exception."""
    with engine.connect() as connection:
        connection.execution_options(**{_WRITE_OPTION: True})
        with connection.begin():
            yield connection


def bump_generation(connection: Connection) -> None:
    """Count a change for state tokens; as the first statement of a write it also serialises
    concurrent writers on the one state row."""
    connection.execute(
        update(registry_state)
        .where(registry_state.c.id == 1)
        .values(generation=registry_state.c.generation + 1)
    )


def _create_schema(engine: Engine) -> None:
    if _initialised(engine):
        return  # the common case, read-only: opening never waits for a writer
    # Two processes opening a new registry at once may both try to create the tables; the
    # loser's error is harmless, and the second attempt finds them.
    for attempt in range(2):
        try:
            with write_transaction(engine) as connection:
                metadata.create_all(connection)
                exists = connection.execute(
                    select(registry_state.c.id).where(registry_state.c.id == 1)
                ).first()
                if exists is None:
                    connection.execute(
                        insert(registry_state).values(
                            id=1,
                            registry_id=uuid.uuid4().hex,
                            generation=0,
                            schema_version=SCHEMA_VERSION,
                        )
                    )
            return
        except (exc.IntegrityError, exc.ProgrammingError):
            if attempt == 1:
                raise


def _initialised(engine: Engine) -> bool:
    with engine.connect() as connection:
        if not inspect(connection).has_table(registry_state.name):
            return False
        row = connection.execute(
            select(registry_state.c.schema_version).where(registry_state.c.id == 1)
        ).first()
    if row is not None and row.schema_version > SCHEMA_VERSION:
        raise RegistryError(
            f"The registry database has schema version {row.schema_version}, newer than this "
            f"tuneforge understands ({SCHEMA_VERSION}): upgrade tuneforge."
        )
    return row is not None
