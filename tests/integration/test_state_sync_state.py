"""erp_sync_state: bulk upsert, load, keyed load and delete, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pytest
import sqlalchemy as sa

from syncflow_core.state import STATE_SCHEMA, FrameShapeError, StateStore
from syncflow_core.state.tables import erp_sync_state

T0 = dt.datetime(2025, 1, 1)


def state_frame(n: int, *, seed: int = 0, start: int = 0) -> pl.DataFrame:
    """``n`` distinct keys with messy-enough values: microsecond rowversions, a null one."""
    i = pl.int_range(start, start + n, eager=True).alias("i")
    return (
        pl.DataFrame(i)
        .select(
            erp_key_hash=pl.col("i").hash(seed).cast(pl.String).str.zfill(32).str.slice(0, 32),
            uid=pl.format("0193a1b2-0000-7000-8000-{}", pl.col("i").cast(pl.String).str.zfill(12)),
            erp_data_hash=(pl.col("i") + seed).hash(7).cast(pl.String).str.zfill(64),
            erp_rowversion=pl.when(pl.col("i") % 1000 == 999)
            .then(None)
            .otherwise(pl.lit(T0) + pl.duration(microseconds=pl.col("i") * 7919 + 1)),
        )
        .unique("erp_key_hash", maintain_order=True)
    )


def by_key(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("erp_key_hash")


def test_upsert_then_load_round_trips_exactly(store: StateStore) -> None:
    frame = state_frame(2000)
    assert store.upsert_sync_state("items", frame, "batch-1") == frame.height
    loaded = store.load_sync_state("items")
    assert loaded.schema == STATE_SCHEMA
    assert by_key(loaded).equals(by_key(frame))
    assert store.sync_state.count("items") == frame.height


def test_bulk_upsert_of_100k_rows_round_trips_exactly(store: StateStore) -> None:
    frame = state_frame(100_000, seed=3)
    assert store.upsert_sync_state("items", frame, "batch-1") == frame.height
    assert by_key(store.load_sync_state("items")).equals(by_key(frame))
    # Update every row, and add new ones in the same call.
    changed = state_frame(100_000, seed=3).with_columns(
        erp_data_hash=pl.col("erp_data_hash").str.replace(r"^.", "f"),
        erp_rowversion=pl.col("erp_rowversion") + dt.timedelta(days=1),
    )
    more = pl.concat([changed, state_frame(5_000, seed=3, start=100_000)])
    assert store.upsert_sync_state("items", more, "batch-2") == more.height
    assert by_key(store.load_sync_state("items")).equals(by_key(more))


def test_entities_are_separate(store: StateStore) -> None:
    items, orders = state_frame(50), state_frame(30, seed=1)
    store.upsert_sync_state("items", items, "b")
    store.upsert_sync_state("orders", orders, "b")
    assert by_key(store.load_sync_state("orders")).equals(by_key(orders))
    assert store.delete_sync_state("orders", items["erp_key_hash"]) == 0
    assert store.sync_state.count("items") == 50


def test_upsert_records_batch_and_time(store: StateStore) -> None:
    store.sync_state.upsert("items", state_frame(3), "batch-9", now=T0)
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(erp_sync_state.c.last_batch_uid, erp_sync_state.c.last_synced_at)
        ).all()
    assert rows == [("batch-9", T0)] * 3


def test_uid_may_not_be_null(store: StateStore) -> None:
    frame = state_frame(10)
    store.upsert_sync_state("items", frame, "b1")
    with pytest.raises(FrameShapeError, match="may not be null"):
        store.upsert_sync_state("items", frame.with_columns(uid=pl.lit(None, pl.String)), "b2")
    assert by_key(store.load_sync_state("items")).equals(by_key(frame))


def test_repeated_keys_in_one_frame_last_one_wins(store: StateStore) -> None:
    one = state_frame(1)
    twice = pl.concat([one, one.with_columns(uid=pl.lit("second"))])
    assert store.upsert_sync_state("items", twice, "b") == 1
    assert store.load_sync_state("items")["uid"].to_list() == ["second"]


def test_load_for_keys_returns_only_those_keys(store: StateStore) -> None:
    frame = state_frame(1000)
    store.upsert_sync_state("items", frame, "b")
    wanted = frame.sample(200, seed=1)
    asked = pl.concat([wanted["erp_key_hash"], pl.Series(["0" * 32, "f" * 32])])  # + unknown
    got = store.load_sync_state_for_keys("items", asked)
    assert by_key(got).equals(by_key(wanted))
    assert store.load_sync_state_for_keys("items", []).schema == STATE_SCHEMA
    assert store.load_sync_state_for_keys("orders", asked).height == 0


def test_delete_removes_exactly_those_keys(store: StateStore) -> None:
    frame = state_frame(1000)
    store.upsert_sync_state("items", frame, "b")
    gone = frame.head(300)
    assert store.delete_sync_state("items", gone["erp_key_hash"].to_list()) == 300
    assert by_key(store.load_sync_state("items")).equals(by_key(frame.tail(700)))
    assert store.delete_sync_state("items", gone["erp_key_hash"]) == 0


def test_empty_entity_and_empty_frames(store: StateStore) -> None:
    assert store.load_sync_state("nothing").schema == STATE_SCHEMA
    assert store.load_sync_state("nothing").height == 0
    assert store.upsert_sync_state("items", state_frame(0), "b") == 0


def test_frames_of_the_wrong_shape_are_refused(store: StateStore) -> None:
    with pytest.raises(FrameShapeError):
        store.upsert_sync_state("items", state_frame(3).drop("erp_data_hash"), "b")
    with pytest.raises(FrameShapeError):
        store.upsert_sync_state(
            "items", state_frame(3).with_columns(erp_rowversion=pl.lit("yesterday")), "b"
        )


def test_writes_in_one_transaction_commit_or_roll_back_together(store: StateStore) -> None:
    frame = state_frame(100)
    seen_inside = []

    def crash_before_commit() -> None:
        with store.transaction() as conn:
            store.upsert_sync_state("items", frame, "b", conn=conn)
            # The transaction sees its own writes; the rest of the world does not yet.
            seen_inside.append(store.load_sync_state("items", conn=conn).height)
            seen_inside.append(store.load_sync_state("items").height)
            raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError):
        crash_before_commit()
    assert seen_inside == [100, 0]
    assert store.load_sync_state("items").height == 0
    with store.transaction() as conn:
        store.upsert_sync_state("items", frame, "b", conn=conn)
        store.delete_sync_state("items", frame.head(10)["erp_key_hash"], conn=conn)
    assert store.load_sync_state("items").height == 90


def test_a_racing_insert_of_the_same_new_key_ends_as_an_update(state_url: str) -> None:
    # Writer 1 inserts a new key and holds its transaction open; writer 2 upserts the same
    # key meanwhile (on PostgreSQL its plain INSERT waits, then meets a unique violation
    # and falls back to ON CONFLICT; on SQLite it waits for the write lock).
    first, second = StateStore(state_url), StateStore(state_url)
    one = state_frame(3)
    other = one.with_columns(uid=pl.lit("from-writer-2"))
    try:
        with first.transaction() as conn:
            first.upsert_sync_state("items", one, "b1", conn=conn)
            with ThreadPoolExecutor(1) as pool:
                pending = pool.submit(second.upsert_sync_state, "items", other, "b2")
                time.sleep(0.5)
                assert not pending.done()  # blocked behind writer 1
                conn.commit()
                assert pending.result(timeout=60) == 3
        assert set(first.load_sync_state("items")["uid"]) == {"from-writer-2"}
    finally:
        first.dispose()
        second.dispose()


def test_insert_new_of_keys_that_exist_after_all_upserts_them(store: StateStore) -> None:
    # A first load appends with COPY (PostgreSQL) or a driver-level executemany (SQLite);
    # a key already there raises the driver's own exception, which must still fall back
    # to an upsert rather than fail the chunk.
    old = state_frame(50)
    store.sync_state.upsert("items", old, "b1")
    new = state_frame(80, seed=0).with_columns(uid=pl.lit("second-load"))
    assert store.sync_state.insert_new("items", new, "b2") == 80
    loaded = store.load_sync_state("items")
    assert loaded.height == 80
    assert set(loaded["uid"]) == {"second-load"}


def test_a_duplicate_key_in_a_bulk_append_is_sqlalchemys_integrity_error(
    store: StateStore,
) -> None:
    from syncflow_core.state.bulk import insert_frame

    rows = state_frame(3).with_columns(
        entity=pl.lit("items"),
        last_batch_uid=pl.lit("b1"),
        last_synced_at=pl.lit(T0, pl.Datetime("us")),
    )
    with store.transaction() as conn:
        insert_frame(conn, erp_sync_state, rows)
    with (
        pytest.raises(sa.exc.IntegrityError, match=r"erp_sync_state|UNIQUE"),
        store.transaction() as conn,
    ):
        insert_frame(conn, erp_sync_state, rows)
    assert store.sync_state.count("items") == 3


def test_two_first_loads_of_the_same_keys_at_once_both_succeed(state_url: str) -> None:
    # Two runs of overlapping partitions append the same new keys: on PostgreSQL the
    # second COPY waits for the first transaction, then meets a unique violation and
    # upserts instead (seen in CI: the daemon test's fourth run failed here).
    first, second = StateStore(state_url), StateStore(state_url)
    one = state_frame(40)
    other = one.with_columns(uid=pl.lit("from-writer-2"))
    try:
        with first.transaction() as conn:
            first.sync_state.insert_new("items", one, "b1", conn=conn)
            with ThreadPoolExecutor(1) as pool:
                pending = pool.submit(second.sync_state.insert_new, "items", other, "b2")
                time.sleep(0.5)
                assert not pending.done()  # blocked behind writer 1
                conn.commit()
                assert pending.result(timeout=60) == 40
        loaded = first.load_sync_state("items")
        assert loaded.height == 40
        assert set(loaded["uid"]) == {"from-writer-2"}
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.postgres
def test_keyed_load_probes_the_index_and_leaves_the_planner_as_it_was(pg_state_url: str) -> None:
    """A chunk's keys are looked up by index probes however large the state (a hash join
    would read all of it for every chunk); the caller's transaction keeps its settings."""
    with StateStore(pg_state_url) as store:
        frame = state_frame(3000, seed=5)
        store.sync_state.upsert("work_centers", frame, batch_uid="b-probe")
        wanted = frame["erp_key_hash"].head(100)
        switched: list[str] = []

        @sa.event.listens_for(store.engine, "before_cursor_execute")
        def seen(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if "set_config" in statement and "enable_hashjoin" in str(parameters):
                switched.append(str(parameters))

        with store.transaction() as conn:
            got = store.sync_state.load_keys("work_centers", wanted, conn=conn)
            after = conn.exec_driver_sql("SHOW enable_hashjoin").scalar()
        sa.event.remove(store.engine, "before_cursor_execute", seen)
        assert sorted(got["erp_key_hash"].to_list()) == sorted(wanted.to_list())
        assert after == "on"
        assert len(switched) == 2  # off for the join, then back as it was
        assert "off" in switched[0]
        store.sync_state.delete("work_centers", frame["erp_key_hash"])
