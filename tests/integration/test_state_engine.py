"""Engines: URLs, SQLite settings, where the bridge schema lives, the default location."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from syncflow_core.settings import get_settings
from syncflow_core.state import StateStore, UnsupportedDatabaseError
from syncflow_core.state.engine import create_state_engine, normalize_url


def test_urls_are_brought_to_the_supported_drivers() -> None:
    assert normalize_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"
    for url in ("postgresql+psycopg2://u@h/db", "mysql://u@h/db", "sqlite+pysqlcipher:///x"):
        with pytest.raises(UnsupportedDatabaseError):
            normalize_url(url)


def test_sqlite_connections_are_set_up_for_concurrent_use(tmp_path: Path) -> None:
    engine = create_state_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as conn:
        pragma = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        }
    engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 0,
        "busy_timeout": 60000,
        "synchronous": 1,
    }


def test_bridge_is_a_schema_on_postgresql_and_the_main_database_on_sqlite(
    store: StateStore,
) -> None:
    with store.engine.connect() as conn:
        inspector = sa.inspect(conn)
        if store.dialect == "postgresql":
            assert "erp_sync_state" in inspector.get_table_names(schema="bridge")
            assert "erp_sync_state" not in inspector.get_table_names(schema="public")
            assert "alembic_version" in inspector.get_table_names(schema="bridge")
        else:
            assert "erp_sync_state" in inspector.get_table_names()
            databases = [row[1] for row in conn.exec_driver_sql("PRAGMA database_list")]
            assert databases == ["main"]  # one file, nothing attached


def test_default_is_a_sqlite_file_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNCFLOW_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        with StateStore() as store:
            store.upgrade()
            store.batches.start("items")
        assert (tmp_path / "syncflow_state.db").is_file()
    finally:
        get_settings.cache_clear()


def test_the_repr_never_shows_a_password() -> None:
    store = StateStore("postgresql+psycopg://syncflow:s3cret@127.0.0.1:5432/x")
    assert "s3cret" not in repr(store)
    store.dispose()


@pytest.mark.postgres
def test_erp_sync_state_leaves_room_for_hot_updates_on_postgresql(pg_state_url: str) -> None:
    with StateStore(pg_state_url) as store, store.engine.connect() as conn:
        options = conn.execute(
            sa.text("SELECT reloptions FROM pg_class WHERE oid = 'bridge.erp_sync_state'::regclass")
        ).scalar_one()
    assert options == ["fillfactor=80"]


def test_erp_sync_state_is_a_without_rowid_table_on_sqlite(tmp_path: Path) -> None:
    with StateStore(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.upgrade()
        with store.engine.connect() as conn:
            ddl = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'erp_sync_state'"
            ).scalar_one()
    assert ddl.rstrip().endswith("WITHOUT ROWID")
