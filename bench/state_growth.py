"""The state's share of a background sync, alone: how its cost per key grows with the table.

    uv run python bench/state_growth.py                      # 7 slices of 1M keys
    uv run python bench/state_growth.py --slices 3 --admin-url postgresql://postgres@127.0.0.1:5433/postgres

For each slice, chunk after chunk (``--chunk-rows``), what a background slice asks of the
state: the lookup of the chunk's keys (``load_sync_state_for_keys``, all of them new, as in
a first sync of the table) and the append of their state rows (``insert_new``), each chunk
in a transaction of its own. No emulator, no HTTP: only this process and PostgreSQL.
Prints, per slice, the seconds of the lookups and of the inserts and the CPU seconds of
this process and of the whole machine (so PostgreSQL's share). The very first chunk has no
lookup (a first load skips it). Asserts nothing.
"""

from __future__ import annotations

import argparse
import secrets
import sys
import time
from pathlib import Path

import polars as pl
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from measure import cpu_seconds, machine_busy_seconds

from syncflow_core.state import StateStore

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"


def chunk_rows(start: int, n: int, seed: int) -> pl.DataFrame:
    """``n`` state rows with 32-character keys spread at random over the key space, as
    xxHash128 keys are (two 64-bit hashes of the row number, their last 16 digits each)."""
    i = pl.int_range(start, start + n, eager=True).alias("i")
    halves = [pl.col("i").hash(seed + k).cast(pl.String).str.zfill(20).str.slice(4) for k in (0, 1)]
    return pl.DataFrame(i).select(
        erp_key_hash=pl.concat_str(halves),
        uid=pl.format("0193a1b2-0000-7000-8000-{}", pl.col("i").cast(pl.String).str.zfill(12)),
        erp_data_hash=pl.col("i").hash(seed + 7).cast(pl.String).str.zfill(64),
        erp_rowversion=pl.lit(None, pl.Datetime("us")),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--slices", type=int, default=7)
    parser.add_argument("--slice-rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=100_000)
    parser.add_argument("--admin-url", default=ADMIN, help="libpq URL of a database to connect")
    args = parser.parse_args()
    database = f"sf_growth_{secrets.token_hex(4)}"
    with psycopg.connect(args.admin_url, autocommit=True) as server:
        server.execute(f'CREATE DATABASE "{database}"')
        settings = ", ".join(
            f"{name}={server.execute(f'SHOW {name}').fetchone()[0]}"  # type: ignore[index]
            for name in ("shared_buffers", "max_wal_size")
        )
    host = args.admin_url.split("://", 1)[1].rsplit("/", 1)[0]
    print(f"state server: {settings}; {args.slices} slices of {args.slice_rows:,} new keys")
    try:
        with StateStore(f"postgresql+psycopg://{host}/{database}") as store:
            store.upgrade()
            written = 0
            for slice_no in range(args.slices):
                lookups = inserts = 0.0
                busy, mine = machine_busy_seconds(), cpu_seconds()
                for _ in range(0, args.slice_rows, args.chunk_rows):
                    rows = chunk_rows(written, args.chunk_rows, seed=11)
                    started = time.perf_counter()
                    if written:
                        found = store.load_sync_state_for_keys("items", rows["erp_key_hash"])
                        assert found.is_empty(), "keys of a new chunk found in the state"
                    lookups += time.perf_counter() - started
                    started = time.perf_counter()
                    with store.transaction() as conn:
                        store.sync_state.insert_new("items", rows, "bench", conn=conn)
                    inserts += time.perf_counter() - started
                    written += rows.height
                busy, mine = machine_busy_seconds() - busy, cpu_seconds() - mine
                print(
                    f"slice {slice_no} (state {written - args.slice_rows:,} -> {written:,} keys): "
                    f"lookups {lookups:.2f} s, inserts {inserts:.2f} s; CPU s: this process "
                    f"{mine:.1f}, PostgreSQL and the rest {busy - mine:.1f}",
                    flush=True,
                )
    finally:
        with psycopg.connect(args.admin_url, autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


if __name__ == "__main__":
    main()
