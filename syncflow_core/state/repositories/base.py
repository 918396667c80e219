"""What every repository shares: its engine and how it opens transactions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from syncflow_core.state.engine import write_options


class Repository:
    """A repository over one table. Every method takes an optional ``conn``: given, the
    method joins that transaction (see ``StateStore.transaction()``); omitted, it runs in a
    transaction of its own."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    @contextmanager
    def _write(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self._engine.connect() as own:
            own.execution_options(**write_options())
            with own.begin():
                yield own

    @contextmanager
    def _read(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
            return
        with self._engine.connect() as own, own.begin():
            yield own


def dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """The dialect's ``INSERT`` construct (both have ``on_conflict_do_update``/``excluded``)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
