"""Run the Alembic migrations programmatically: the only way the state schema is created.

>>> from syncflow_core.state.engine import create_state_engine
>>> engine = create_state_engine("sqlite://")
>>> upgrade(engine)
>>> current_revision(engine) == head_revision()
True

``alembic.ini`` at the project root serves the command line (``uv run alembic upgrade head``,
URL from ``-x url=...`` or ``SYNCFLOW_DATABASE_URL``); both paths go through
``migrations/env.py``, which takes a lock first (a PostgreSQL advisory lock, SQLite's write
lock), so that two processes upgrading at once apply each migration once.
"""

from __future__ import annotations

import threading
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from syncflow_core.state.errors import MigrationsNotFoundError
from syncflow_core.state.tables import SCHEMA

# syncflow_core/state/migrate.py -> the project root holds migrations/ and alembic.ini.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
VERSION_TABLE = "alembic_version"
# pg_advisory_xact_lock key held while migrating: "SYNCFLOW" in ASCII hex.
MIGRATION_LOCK_KEY = 0x53594E43464C4F57
# Alembic keeps the running migration in module globals (alembic.context, alembic.op):
# one migration at a time per process. Across processes the database lock takes over.
_ALEMBIC_LOCK = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic configuration for ``migrations/``, optionally bound to ``connection``."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise MigrationsNotFoundError(f"no Alembic environment at {MIGRATIONS_DIR}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database up to ``revision`` (default: the newest)."""
    with _ALEMBIC_LOCK, engine.connect() as connection:
        command.upgrade(alembic_config(connection), revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Migrate the database down to ``revision`` (default: no tables at all)."""
    with _ALEMBIC_LOCK, engine.connect() as connection:
        command.downgrade(alembic_config(connection), revision)


def head_revision() -> str:
    """The newest revision in ``migrations/versions``."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "migrations/versions is empty"
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (``None``: never migrated, or downgraded to base)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "version_table_schema": version_table_schema(connection),
                "version_table": VERSION_TABLE,
            },
        )
        return context.get_current_revision()


def version_table_schema(connection: Connection) -> str | None:
    """Where ``alembic_version`` lives: ``bridge``; on SQLite the main database.

    On SQLite ``bridge`` *is* the main database (``schema_translate_map``), but Alembic asks
    the dialect directly whether its version table exists, bypassing that map; so it is told
    the translated name.
    """
    return None if connection.dialect.name == "sqlite" else SCHEMA


def lock_for_migration(connection: Connection) -> None:
    """Serialize migrations; on PostgreSQL also create the schema the version table lives in.

    Call inside the migration's transaction. On SQLite the caller's ``BEGIN IMMEDIATE``
    already holds the only write lock there is.
    """
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
        )
        connection.execute(sa.schema.CreateSchema(SCHEMA, if_not_exists=True))
