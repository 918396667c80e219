"""Migrations: the only way the schema is made; up from empty, down to base and up again."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from syncflow_core.state import SCHEMA, CatalogDrift, SchemaNotCurrentError, StateStore, metadata
from syncflow_core.state.migrate import MIGRATIONS_DIR

TABLES = {
    "sync_batches",
    "failed_records",
    "pending_children",
    "erp_sync_state",
    "sync_watermarks",
    "sync_leases",
    "background_sync_schedule",
    "field_mappings",
}
ROOT = Path(__file__).resolve().parents[2]


def tables(store: StateStore) -> set[str]:
    schema = SCHEMA if store.dialect == "postgresql" else None
    with store.engine.connect() as conn:
        return set(sa.inspect(conn).get_table_names(schema=schema)) - {"alembic_version"}


def live_metadata(store: StateStore) -> sa.MetaData:
    """The table definitions as the database shows them (SQLite: bridge is main)."""
    if store.dialect == "postgresql":
        return metadata
    plain = sa.MetaData()
    for table in metadata.tables.values():
        table.to_metadata(plain, schema=None)
    return plain


def test_upgrade_from_empty_creates_exactly_the_declared_schema(empty_db_url: str) -> None:
    with StateStore(empty_db_url) as store:
        assert tables(store) == set()
        with pytest.raises(SchemaNotCurrentError):
            store.check()
        store.upgrade()
        store.check()
        assert store.revision() == store.head() == "0006"
        assert tables(store) == TABLES
        with store.engine.connect() as conn:
            on_pg = store.dialect == "postgresql"
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_schemas": on_pg,
                    "version_table_schema": SCHEMA if on_pg else None,
                },
            )
            assert compare_metadata(context, live_metadata(store)) == []


def test_downgrade_to_base_and_up_again(empty_db_url: str) -> None:
    with StateStore(empty_db_url) as store:
        store.upgrade()
        store.batches.start("items")
        store.downgrade("base")
        assert tables(store) == set()
        assert store.revision() is None
        store.upgrade()
        assert tables(store) == TABLES
        assert store.batches.recent().height == 0
        assert store.field_mappings.load().height > 0


def test_upgrading_twice_is_harmless(empty_db_url: str) -> None:
    with StateStore(empty_db_url) as store:
        store.upgrade()
        uid = store.batches.start("items")
        store.upgrade()
        assert store.batches.get(uid).entity == "items"


def _upgrade_in_process(url: str, barrier: object) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    with StateStore(url) as store:
        store.upgrade()


def test_concurrent_upgrades_apply_each_migration_once(empty_db_url: str) -> None:
    # Separate processes, as several Dagster runs starting at once would be.
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(3)
    processes = [
        context.Process(target=_upgrade_in_process, args=(empty_db_url, barrier)) for _ in range(3)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [process.exitcode for process in processes] == [0, 0, 0]
    with StateStore(empty_db_url) as store:
        assert store.revision() == store.head()
        assert tables(store) == TABLES
        assert store.field_mappings.sync() == CatalogDrift()


def test_threads_of_one_process_upgrade_one_at_a_time(empty_db_url: str) -> None:
    stores = [StateStore(empty_db_url) for _ in range(3)]
    barrier, errors = threading.Barrier(3), []

    def run(store: StateStore) -> None:
        barrier.wait()
        try:
            store.upgrade()
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert tables(stores[0]) == TABLES
    finally:
        for s in stores:
            s.dispose()


def test_the_alembic_command_line_uses_the_same_environment(empty_db_url: str) -> None:
    env = {k: v for k, v in os.environ.items() if k != "SYNCFLOW_DATABASE_URL"}
    command = [sys.executable, "-m", "alembic", "-x", f"url={empty_db_url}", "upgrade", "head"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    with StateStore(empty_db_url) as store:
        assert store.revision() == store.head()
        assert tables(store) == TABLES


def test_nothing_but_migrations_creates_tables() -> None:
    sources = [*Path(ROOT, "syncflow_core").rglob("*.py"), *MIGRATIONS_DIR.rglob("*.py")]
    offenders = [str(p) for p in sources if "create_all(" in p.read_text(encoding="utf-8")]
    assert offenders == []


KEY_HASH_TYPES = sa.text(
    "SELECT table_name, column_name, data_type, collation_name FROM information_schema.columns "
    "WHERE table_schema = 'bridge' "
    "AND column_name IN ('erp_key_hash', 'parent_key_hash', 'erp_data_hash')"
)


def hash_columns(store: StateStore) -> dict[tuple[str, str], tuple[str, str | None]]:
    with store.engine.connect() as conn:
        return {(t, c): (kind, collation) for t, c, kind, collation in conn.execute(KEY_HASH_TYPES)}


def two_states() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "erp_key_hash": ["0" * 32, "f" * 32],
            "uid": ["u0", "u1"],
            "erp_data_hash": ["d" * 64, "0123456789abcdef" * 4],
            "erp_rowversion": [None, None],
        },
        schema_overrides={"erp_rowversion": pl.Datetime("us")},
    )


@pytest.mark.postgres
def test_key_hashes_compare_bytes_on_postgresql(pg_database_factory: Callable[[], str]) -> None:
    # The state's hashes are bytes (bytea); every other key hash column has collation C
    # (compared as bytes, not through strcoll).
    with StateStore(pg_database_factory()) as store:
        store.upgrade()
        assert hash_columns(store) == {
            ("erp_sync_state", "erp_key_hash"): ("bytea", None),
            ("erp_sync_state", "erp_data_hash"): ("bytea", None),
            ("failed_records", "erp_key_hash"): ("character varying", "C"),
            ("pending_children", "erp_key_hash"): ("character varying", "C"),
            ("pending_children", "parent_key_hash"): ("character varying", "C"),
        }
        store.upsert_sync_state("items", two_states(), "batch")
        found_keys = store.load_sync_state_for_keys("items", pl.Series(["f" * 32, "a" * 32]))
        assert found_keys["erp_key_hash"].to_list() == ["f" * 32]
        with store.engine.connect() as conn:
            stored = conn.execute(
                sa.text("SELECT erp_key_hash, erp_data_hash FROM bridge.erp_sync_state")
            ).all()
        assert sorted(stored) == [
            (bytes(16), bytes([0xDD]) * 32),
            (bytes([0xFF]) * 16, bytes.fromhex("0123456789abcdef" * 4)),
        ]
        store.downgrade("0005")  # back to text: the same hex digits
        assert hash_columns(store)[("erp_sync_state", "erp_key_hash")] == ("character varying", "C")
        with store.engine.connect() as conn:
            text = conn.execute(
                sa.text("SELECT erp_key_hash, erp_data_hash FROM bridge.erp_sync_state")
            ).all()
        assert sorted(text) == sorted(two_states().select("erp_key_hash", "erp_data_hash").rows())
        store.downgrade("0003")
        assert {collation for _, collation in hash_columns(store).values()} == {None}
        store.upgrade()  # text to bytes, the existing rows included
        assert store.load_sync_state("items").sort("erp_key_hash").equals(two_states())
