"""background_sync_schedule: plans of rowversion slices, claimed one at a time."""

from __future__ import annotations

import datetime as dt
import threading
from concurrent.futures import ThreadPoolExecutor

import polars as pl
import pytest

from syncflow_core.state import StateStore

T0 = dt.datetime(2025, 1, 1)


def slices(n: int) -> pl.DataFrame:
    starts = [T0 + dt.timedelta(days=k) for k in range(n)]
    return pl.DataFrame(
        {
            "rowversion_lo": list(reversed(starts)),  # any order: numbered by rowversion
            "rowversion_hi": [s + dt.timedelta(days=1) for s in reversed(starts)],
            "planned_rows": [1000 * (k + 1) for k in reversed(range(n))],
        }
    )


def test_a_plan_is_stored_in_rowversion_order(store: StateStore) -> None:
    plan_id = store.schedule.create_plan("items", slices(3), now=T0)
    plan = store.schedule.plan(plan_id)
    assert plan["slice_no"].to_list() == [0, 1, 2]
    assert plan["rowversion_lo"].to_list() == [T0 + dt.timedelta(days=k) for k in range(3)]
    assert plan["planned_rows"].to_list() == [1000, 2000, 3000]
    assert set(plan["status"]) == {"planned"}
    assert set(plan["entity"]) == {"items"}
    assert store.schedule.latest_plan_id("items") == plan_id
    newer = store.schedule.create_plan("items", slices(1))
    assert store.schedule.latest_plan_id("items") == newer
    assert store.schedule.latest_plan_id("orders") is None


def test_slices_are_claimed_in_order_progress_and_finish(store: StateStore) -> None:
    plan_id = store.schedule.create_plan("items", slices(2))
    first = store.schedule.claim_next(plan_id, "b1", now=T0)
    assert first is not None
    assert (first.slice_no, first.status, first.batch_uid) == (
        0,
        "running",
        "b1",
    )
    store.schedule.progress(first.id, rows=600)
    store.schedule.progress(first.id, rows=400, chunks=2)
    store.schedule.finish_slice(first.id, now=T0)
    second = store.schedule.claim_next(plan_id, "b2")
    assert second is not None
    assert second.slice_no == 1
    store.schedule.finish_slice(second.id, status="failed", error_message="APISmith down")
    plan = store.schedule.plan(plan_id)
    assert plan["status"].to_list() == ["done", "failed"]
    assert plan["rows_done"].to_list() == [1000, 0]
    assert plan["chunks_done"].to_list() == [3, 0]
    assert plan["error_message"].to_list() == [None, "APISmith down"]
    assert store.schedule.claim_next(plan_id, "b3", retry_failed=False) is None
    again = store.schedule.claim_next(plan_id, "b3")
    assert again is not None
    assert again.slice_no == 1
    assert again.batch_uid == "b3"
    store.schedule.finish_slice(again.id)
    assert store.schedule.claim_next(plan_id, "b4") is None


def test_running_slices_of_a_crashed_worker_can_be_reset(store: StateStore) -> None:
    plan_id = store.schedule.create_plan("items", slices(2))
    store.schedule.claim_next(plan_id, "b1")
    assert store.schedule.reset_running(plan_id) == 1
    assert store.schedule.plan(plan_id)["status"].to_list() == ["planned", "planned"]


def test_two_workers_never_get_the_same_slice(state_url: str) -> None:
    workers, n = 4, 24
    stores = [StateStore(state_url) for _ in range(workers)]
    plan_id = stores[0].schedule.create_plan("items", slices(n))
    barrier = threading.Barrier(workers)

    def work(worker: int) -> list[int]:
        barrier.wait()
        got = []
        while (claimed := stores[worker].schedule.claim_next(plan_id, f"w{worker}")) is not None:
            got.append(claimed.slice_no)
            stores[worker].schedule.finish_slice(claimed.id)
        return got

    try:
        with ThreadPoolExecutor(workers) as pool:
            claimed = [no for part in pool.map(work, range(workers)) for no in part]
        assert sorted(claimed) == list(range(n))
    finally:
        for s in stores:
            s.dispose()


def test_bad_plans_are_refused(store: StateStore) -> None:
    overlapping = slices(2).with_columns(pl.col("rowversion_hi") + dt.timedelta(hours=1))
    with pytest.raises(ValueError, match="overlapping"):
        store.schedule.create_plan("items", overlapping)
    empty = slices(1).with_columns(rowversion_hi=pl.col("rowversion_lo"))
    with pytest.raises(ValueError, match="empty"):
        store.schedule.create_plan("items", empty)
    with pytest.raises(ValueError, match="'done' or 'failed'"):
        store.schedule.finish_slice(1, status="planned")
