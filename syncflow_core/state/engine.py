"""Engines for the state store: SQLite (embedded default) and PostgreSQL (psycopg 3).

>>> engine = create_state_engine("sqlite://")
>>> engine.dialect.name, engine.get_execution_options()["schema_translate_map"]
('sqlite', {'bridge': None})

SQLite has no schemas. Instead of ATTACHing a second file as ``bridge`` (two files, and a
transaction over both is not atomic in WAL mode), the engine maps the schema ``bridge`` to
the main database with ``schema_translate_map``: tables, migrations and statements are the
same objects on both databases, and a SQLite state store is one file.

SQLite connections run in WAL mode (readers never block the writer) with foreign keys off,
a busy timeout, and ``synchronous=NORMAL`` (durable across a process crash; a power cut may
lose the last commits, which a re-run repairs because every write is idempotent). The
``sqlite3`` module's own transaction handling is switched off; SQLAlchemy emits ``BEGIN``,
and write transactions (:func:`write_options`) emit ``BEGIN IMMEDIATE``, which takes the
write lock up front: two writers queue on the busy timeout instead of one failing with
"database is locked" when it upgrades a read to a write.
"""

from __future__ import annotations

import sqlite3
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Connection, Engine, make_url

from syncflow_core.state.errors import UnsupportedDatabaseError
from syncflow_core.state.tables import SCHEMA

SQLITE_BUSY_TIMEOUT_MS = 60_000
SQLITE_CACHE_KIB = 65_536  # page cache per connection: a million-key index stays in memory
BEGIN_OPTION = "syncflow_sqlite_begin"
_BEGIN_STATEMENTS = {"deferred": "BEGIN", "immediate": "BEGIN IMMEDIATE"}


def normalize_url(url: str | URL) -> URL:
    """The URL the store connects with: PostgreSQL always through psycopg 3.

    >>> normalize_url("postgresql://postgres@127.0.0.1:5432/test").drivername
    'postgresql+psycopg'
    """
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        return parsed.set(drivername="postgresql+psycopg")
    backend, driver = parsed.get_backend_name(), parsed.get_driver_name()
    if backend == "postgresql":
        if driver != "psycopg":
            raise UnsupportedDatabaseError(
                f"PostgreSQL needs the psycopg 3 driver (postgresql+psycopg://), not {driver!r}"
            )
        return parsed
    if backend == "sqlite" and driver == "pysqlite":
        return parsed
    raise UnsupportedDatabaseError(
        f"the state store runs on SQLite or PostgreSQL, not {parsed.drivername!r}"
    )


def create_state_engine(url: str | URL) -> Engine:
    """An engine for the state store at ``url`` (see the module docstring for the settings)."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return sa.create_engine(parsed, pool_pre_ping=True)


def write_options() -> dict[str, Any]:
    """Execution options for a connection that will write (``BEGIN IMMEDIATE`` on SQLite)."""
    return {BEGIN_OPTION: "immediate"}


def _sqlite_engine(url: URL) -> Engine:
    engine = sa.create_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000, "check_same_thread": False},
        execution_options={"schema_translate_map": {SCHEMA: None}},
    )
    sa.event.listen(engine, "connect", _sqlite_on_connect)
    sa.event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # None: the sqlite3 module must not BEGIN/COMMIT on its own; _sqlite_on_begin does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        _wal_mode(cursor)
        cursor.execute("PRAGMA foreign_keys=OFF")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS:d}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB:d}")
    finally:
        cursor.close()


def _wal_mode(cursor: Any) -> None:
    """Switch the database file to WAL, once (the mode is stored in the file).

    The switch needs the file to itself. When several processes open a new state file at
    once (runs starting together), SQLite can refuse it at once with "database is
    locked", without waiting on the busy timeout (it does not wait where waiting could
    deadlock): seen one start in eight with three processes. So the switch is retried
    until the busy timeout, and skipped once another connection has made it."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() >= deadline:
                raise
            time.sleep(0.02)


def _sqlite_on_begin(connection: Connection) -> None:
    mode = connection.get_execution_options().get(BEGIN_OPTION, "deferred")
    connection.exec_driver_sql(_BEGIN_STATEMENTS[mode])
