"""Alembic environment of the state store (schema ``bridge`` on PostgreSQL and SQLite).

Run programmatically by :func:`syncflow_core.state.migrate.upgrade` (which hands over its
connection), or from the command line at the project root::

    uv run alembic upgrade head                       # SYNCFLOW_DATABASE_URL, else SQLite
    uv run alembic -x url=postgresql+psycopg://postgres@127.0.0.1:5432/db upgrade head

Either way the engine is the store's own (same SQLite pragmas and ``bridge`` mapping), the
whole run is one transaction, and a lock keeps concurrent upgrades apart.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from syncflow_core.settings import get_settings
from syncflow_core.state.engine import create_state_engine, write_options
from syncflow_core.state.migrate import VERSION_TABLE, lock_for_migration, version_table_schema
from syncflow_core.state.tables import metadata


def _migrate(connection: Connection) -> None:
    connection = connection.execution_options(**write_options())
    with connection.begin():
        lock_for_migration(connection)
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=VERSION_TABLE,
            version_table_schema=version_table_schema(connection),
            include_schemas=True,
            render_as_batch=True,  # SQLite alters tables by copying them (autogenerate)
            compare_type=True,
        )
        context.run_migrations()


def _run() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) mode is not supported: run against a database")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _migrate(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url") or get_settings().state_url
    engine = create_state_engine(url)
    try:
        with engine.connect() as own_connection:
            _migrate(own_connection)
    finally:
        engine.dispose()


_run()
