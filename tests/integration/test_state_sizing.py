"""Does the state's primary key fit in the server's buffers (``state.sizing``)? Read off a
real PostgreSQL; SQLite has no buffers to size."""

from __future__ import annotations

import polars as pl
import pytest
import sqlalchemy as sa

from syncflow_core.state import StateStore, sizing
from syncflow_core.state.sizing import MB, cache_fit

UNITS = {"kB": 1024, "MB": MB, "GB": 1024 * MB}


def _shown_shared_buffers(store: StateStore) -> int:
    """``SHOW shared_buffers`` ("128MB", "1GB", "16384kB") as bytes."""
    with store.engine.connect() as conn:
        shown = str(conn.exec_driver_sql("SHOW shared_buffers").scalar_one())
    number = shown.rstrip("kMGB")
    return int(number) * UNITS[shown[len(number) :]]


def _primary_key_bytes(store: StateStore) -> int:
    """The primary key's size found through the catalog (not ``pg_indexes_size``)."""
    stmt = sa.text(
        "SELECT pg_relation_size(i.indexrelid) FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'bridge' AND c.relname = 'erp_sync_state' AND i.indisprimary"
    )
    with store.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def _keys(count: int) -> pl.DataFrame:
    n = pl.int_range(count, eager=True)
    return pl.DataFrame(
        {
            "erp_key_hash": n.map_elements(lambda i: f"{i:032x}", return_dtype=pl.String),
            "uid": n.cast(pl.String),
            "erp_data_hash": pl.repeat("d" * 64, count, eager=True),
            "erp_rowversion": pl.repeat(None, count, dtype=pl.Datetime("us"), eager=True),
        }
    )


def test_the_index_and_the_buffers_as_the_server_has_them(store: StateStore) -> None:
    if store.dialect != "postgresql":
        assert cache_fit(store.engine, 1_000_000) is None
        return
    store.sync_state.upsert("items", _keys(20_000), batch_uid="b-1")
    fit = cache_fit(store.engine, 0)
    assert fit is not None
    assert fit.index_bytes == _primary_key_bytes(store) > 20_000 * 16
    assert fit.shared_buffers_bytes == _shown_shared_buffers(store)
    assert fit.fits
    assert fit.advice is None
    assert fit.as_metadata()["shared_buffers_mb"] == round(fit.shared_buffers_bytes / MB, 1)

    # enough keys to outgrow the buffers
    too_many = fit.shared_buffers_bytes // sizing.INDEX_BYTES_PER_KEY + 1
    big = cache_fit(store.engine, too_many)
    assert big is not None
    assert not big.fits
    assert big.index_bytes_after == fit.index_bytes + too_many * sizing.INDEX_BYTES_PER_KEY
    assert big.suggested_shared_buffers_mb * MB >= big.index_bytes_after * sizing.HEADROOM
    assert big.advice is not None
    assert f"shared_buffers to at least {big.suggested_shared_buffers_mb:,} MB" in big.advice
    assert f"{too_many:,} keys to add" in big.advice


def test_added_keys_are_never_negative(store: StateStore) -> None:
    fit = cache_fit(store.engine, -5)
    assert fit is None or fit.added_keys == 0


def test_a_suggestion_is_a_whole_step_above_the_index() -> None:
    fit = sizing.CacheFit(index_bytes=0, added_keys=7_000_000, shared_buffers_bytes=128 * MB)
    assert fit.index_mb_after == pytest.approx(7_000_000 * 50 / MB)
    assert fit.suggested_shared_buffers_mb == 512  # 334 MB and a quarter: 417 → 512
    assert not fit.fits
