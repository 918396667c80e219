"""Benchmark of the state store's bulk paths: erp_sync_state upsert and load.

    uv run python bench/state.py                       # 1M rows, SQLite and PostgreSQL
    uv run python bench/state.py --rows 200000 --dialect sqlite

PostgreSQL: the server at 127.0.0.1:5432 (``--pg-admin-url``); the benchmark creates its
own database and drops it afterwards. Prints seconds and rows/s; asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import polars as pl
import psycopg
import sqlalchemy as sa
from psycopg import sql

from syncflow_core.state import StateStore

T0 = dt.datetime(2025, 1, 1)


def state_rows(n: int, generation: int = 0) -> pl.DataFrame:
    """``n`` distinct keys, hex hashes, UUID-like uids, microsecond rowversions."""
    i = pl.int_range(0, n, eager=True).alias("i")
    return pl.DataFrame(i).select(
        erp_key_hash=pl.col("i").hash(1).cast(pl.String).str.zfill(32).str.slice(0, 32),
        uid=pl.format("0193a1b2-0000-7000-8000-{}", pl.col("i").cast(pl.String).str.zfill(12)),
        erp_data_hash=(pl.col("i") + generation).hash(2).cast(pl.String).str.zfill(64),
        erp_rowversion=pl.lit(T0) + pl.duration(microseconds=pl.col("i") * 7919 + generation),
    )


def timed(label: str, rows: int, action: Callable[[], object]) -> object:
    start = time.perf_counter()
    result = action()
    seconds = time.perf_counter() - start
    print(f"  {label:<44} {seconds:8.2f} s  {rows / seconds:>12,.0f} rows/s", flush=True)
    return result


@contextmanager
def postgres_url(admin_url: str) -> Iterator[str]:
    name = f"sf_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        url = sa.make_url(admin_url).set(drivername="postgresql+psycopg", database=name)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="sf_bench_") as directory:
        yield f"sqlite:///{Path(directory) / 'state.db'}"


def bench(url: str, n: int) -> None:
    first, second = state_rows(n), state_rows(n, generation=1)
    keys = first["erp_key_hash"]
    day = second.sample(fraction=0.1, seed=1)  # a day's changes: a tenth of the keys
    with StateStore(url) as store:
        store.upgrade()
        print(f"{store.dialect}: {n:,} erp_sync_state rows")
        timed(
            "upsert, all new (first load)", n, lambda: store.upsert_sync_state("items", first, "b1")
        )
        timed(
            f"upsert, {day.height:,} existing keys changed (a day)",
            day.height,
            lambda: store.upsert_sync_state("items", day, "b2"),
        )
        timed(
            "upsert, every key changed",
            n,
            lambda: store.upsert_sync_state("items", second, "b3"),
        )
        loaded = cast(
            pl.DataFrame,
            timed("load_sync_state (whole entity)", n, lambda: store.load_sync_state("items")),
        )
        exact = loaded.sort("erp_key_hash").equals(second.sort("erp_key_hash"))
        print(f"  {'  round trip exact':<44} {exact}")
        if store.dialect == "postgresql":
            with store.transaction() as conn:
                timed(
                    "load_sync_state inside a transaction (fetchmany)",
                    n,
                    lambda: store.load_sync_state("items", conn=conn),
                )
        chunk = min(200_000, n)
        timed(
            f"load_sync_state_for_keys ({chunk:,} keys)",
            chunk,
            lambda: store.load_sync_state_for_keys("items", keys.head(chunk)),
        )
        gone = min(100_000, n)
        timed(
            f"delete_sync_state ({gone:,} keys)",
            gone,
            lambda: store.delete_sync_state("items", keys.head(gone)),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--dialect", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument(
        "--pg-admin-url",
        default=os.environ.get(
            "SYNCFLOW_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    if args.dialect in ("postgresql", "both"):
        with postgres_url(args.pg_admin_url) as url:
            bench(url, args.rows)
    if args.dialect in ("sqlite", "both"):
        with sqlite_url() as url:
            bench(url, args.rows)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
