"""Shared fixtures.

State-store fixtures: every state test runs on SQLite and on PostgreSQL (``store`` and
``state_url`` are parametrized over both). PostgreSQL is the server at 127.0.0.1:5432
(user postgres, trust auth; override with ``SYNCFLOW_TEST_PG_ADMIN_URL``); each test
session creates its own database ``sf_<random>`` there and drops it at the end, because
other sessions use the same server. If the server cannot be reached the PostgreSQL cases
fail when ``CI=true`` (a skipped test in CI is a failure) and are skipped otherwise.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from syncflow_core.state import StateStore, metadata

PG_ADMIN_URL = os.environ.get(
    "SYNCFLOW_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
DIALECTS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


def _admin() -> psycopg.Connection:
    return psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5)


def _pg_url(database: str) -> str:
    admin = sa.make_url(PG_ADMIN_URL)
    return admin.set(drivername="postgresql+psycopg", database=database).render_as_string(
        hide_password=False
    )


@pytest.fixture(scope="session")
def pg_database_factory() -> Iterator[Callable[[], str]]:
    """Creates uniquely named PostgreSQL databases; drops them all at the session's end."""
    try:
        _admin().close()
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at {sa.make_url(PG_ADMIN_URL).host}:5432 unreachable: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    created: list[str] = []

    def create() -> str:
        name = f"sf_{secrets.token_hex(6)}"
        with _admin() as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        created.append(name)
        return _pg_url(name)

    yield create
    with _admin() as admin:
        for name in created:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
def pg_state_url(pg_database_factory: Callable[[], str]) -> str:
    """One migrated PostgreSQL database for the session's state tests."""
    url = pg_database_factory()
    with StateStore(url) as store:
        store.upgrade()
    return url


@pytest.fixture(params=DIALECTS)
def empty_db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A database with no tables at all (for migration tests), on each dialect."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    factory: Callable[[], str] = request.getfixturevalue("pg_database_factory")
    return factory()


@pytest.fixture(params=DIALECTS)
def state_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of a migrated state store with empty tables, on each dialect."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
        with StateStore(url) as store:
            store.upgrade()
        return url
    url = str(request.getfixturevalue("pg_state_url"))
    with StateStore(url) as store:
        with store.transaction() as conn:
            for table in reversed(metadata.sorted_tables):
                conn.execute(sa.delete(table))
        store.field_mappings.sync()  # as upgrade() leaves it
    return url


@pytest.fixture
def store(state_url: str) -> Iterator[StateStore]:
    """A migrated, empty state store, on each dialect."""
    with StateStore(state_url) as state_store:
        yield state_store
