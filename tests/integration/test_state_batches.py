"""sync_batches: start, count, finish and read batches, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from syncflow_core.state import StateStore, UnknownBatchError
from syncflow_core.state.tables import ROW_COUNTERS, sync_batches

T0 = dt.datetime(2025, 3, 1, 8, 0, 0, 123456)


def test_start_records_a_running_batch_with_a_uuid7(store: StateStore) -> None:
    uid = store.batches.start(
        "items",
        window_start=dt.datetime(2025, 3, 1),
        window_end=dt.datetime(2025, 3, 2),
        dagster_run_id="run-1",
        now=T0,
    )
    assert uuid.UUID(uid).version == 7
    batch = store.batches.get(uid)
    assert (batch.entity, batch.kind, batch.status) == ("items", "sync", "running")
    assert (batch.window_start, batch.window_end) == (
        dt.datetime(2025, 3, 1),
        dt.datetime(2025, 3, 2),
    )
    assert batch.started_at == T0
    assert batch.finished_at is None
    assert batch.counts == dict.fromkeys(ROW_COUNTERS, 0)
    assert batch.dagster_run_id == "run-1"
    assert batch.metrics == {}


def test_uids_are_time_ordered(store: StateStore) -> None:
    uids = [store.batches.start("items") for _ in range(5)]
    assert uids == sorted(uids)


def test_counts_add_up_and_finish_sets_absolute_values(store: StateStore) -> None:
    uid = store.batches.start("items", kind="reconcile")
    store.batches.add_counts(uid, {"rows_fetched": 600, "rows_inserted": 500, "rows_failed": 1})
    store.batches.add_counts(uid, {"rows_fetched": 400, "rows_skipped": 397, "rows_failed": 2})
    batch = store.batches.finish(
        uid, counts={"rows_pending": 100}, metrics={"fetch_s": 1.5, "stages": {"map": 0.2}}, now=T0
    )
    assert batch.status == "succeeded"
    assert batch.finished_at == T0
    assert batch.counts["rows_fetched"] == 1000
    assert batch.counts["rows_failed"] == 3
    assert batch.counts["rows_pending"] == 100
    assert batch.success_rate == pytest.approx(99.7)
    assert batch.metrics == {"fetch_s": 1.5, "stages": {"map": 0.2}}


def test_success_rate_is_null_without_rows_and_can_be_given(store: StateStore) -> None:
    empty = store.batches.finish(store.batches.start("items"))
    assert empty.success_rate is None
    given = store.batches.finish(store.batches.start("items"), success_rate=42.0)
    assert given.success_rate == 42.0


def test_the_first_error_message_is_kept(store: StateStore) -> None:
    uid = store.batches.start("items")
    store.batches.record_error(uid, "first: APISmith 503")
    store.batches.record_error(uid, "second")
    batch = store.batches.finish(uid, status="failed", error_message="third")
    assert batch.status == "failed"
    assert batch.error_message == "first: APISmith 503"
    fresh = store.batches.finish(store.batches.start("items"), status="failed", error_message="x")
    assert fresh.error_message == "x"


def test_bad_input_is_refused(store: StateStore) -> None:
    uid = store.batches.start("items")
    with pytest.raises(ValueError, match="unknown batch counter"):
        store.batches.add_counts(uid, {"rows_lost": 1})
    with pytest.raises(ValueError, match="kind"):
        store.batches.start("items", kind="nightly")
    with pytest.raises(ValueError, match="finishes"):
        store.batches.finish(uid, status="running")
    with pytest.raises(UnknownBatchError):
        store.batches.add_counts("no-such-batch", {"rows_fetched": 1})
    with pytest.raises(UnknownBatchError):
        store.batches.get("no-such-batch")
    with store.transaction() as conn, pytest.raises(sa.exc.IntegrityError):
        # the database's own check, not only Python's
        conn.execute(sa.update(sync_batches).values(status="lost"))


def test_recent_lists_newest_first(store: StateStore) -> None:
    first = store.batches.start("items", now=T0)
    second = store.batches.start("orders", now=T0 + dt.timedelta(hours=1))
    third = store.batches.start("items", now=T0 + dt.timedelta(hours=2))
    assert store.batches.recent()["batch_uid"].to_list() == [third, second, first]
    items = store.batches.recent("items", limit=1)
    assert items["batch_uid"].to_list() == [third]
    assert items["rows_fetched"].to_list() == [0]
