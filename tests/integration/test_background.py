"""Background sync: a plan of slices from a key-and-rowversion scan; slices in chunks,
resumable at the last committed chunk."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from syncflow_core.background import cut, plan_background, progress, run_slice
from syncflow_core.pipeline import BatchResult, sync_window
from syncflow_core.state import sizing
from tests.support.world import World, world


def test_cut_never_splits_equal_rowversions() -> None:
    import datetime as dt

    import polars as pl

    t = dt.datetime(2025, 1, 1)
    values = pl.Series([t, t, t, t + dt.timedelta(seconds=1), t + dt.timedelta(seconds=2)])
    bounds = cut(values, 2)
    assert bounds == [t, t + dt.timedelta(seconds=1), t + dt.timedelta(seconds=2, microseconds=1)]
    assert cut(pl.Series([], dtype=pl.Datetime("us")), 2) == []


def test_background_slices_sync_the_whole_table_and_are_idempotent(
    state_url: str, tmp_path: Path
) -> None:
    sizes = {"items": 3000, "work_centers": 5, "orders": 5, "order_lines": 5}
    with world(state_url, tmp_path, sizes=sizes) as w:
        plan = plan_background(w.env, "items", rows_per_day=1000, chunk_rows=300)
        assert plan.rows == 3000
        assert plan.slices.height == 3
        assert plan.slices["planned_rows"].to_list() == [1000, 1000, 1000]
        results = [run_slice(w.env, "items", n) for n in range(plan.slices.height)]
        assert all(r is not None and r.status == "succeeded" for r in results)
        assert run_slice(w.env, "items", 0) is None  # done: nothing to do
        assert run_slice(w.env, "items", 7) is None  # no such slice
        done = progress(w.env, "items")
        assert done == {"slices": 3.0, "slices_done": 3.0, "rows_planned": 3000.0,
                        "rows_done": 3000.0}  # fmt: skip
        slices = w.env.store.schedule.plan(plan.plan_id)
        assert slices["chunks_done"].to_list() == [4, 4, 4]
        w.assert_exact(only=("items",))
        # the regular sync finds nothing left to write
        before = w.writes()
        again = sync_window(w.env, "items", w.windows(), full_rescan=True)
        assert again.metrics.rows_inserted == again.metrics.rows_updated == 0
        assert w.writes()["entities"]["items"] == before["entities"]["items"]


def test_a_plan_says_whether_the_state_index_will_fit_the_buffers(
    state_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sizes = {"items": 500, "work_centers": 5, "orders": 5, "order_lines": 5}
    with world(state_url, tmp_path, sizes=sizes) as w:
        plan = plan_background(w.env, "items", rows_per_day=1000, chunk_rows=250)
        if w.env.store.dialect != "postgresql":
            assert plan.cache_fit is None  # SQLite: no buffers to size
            return
        assert plan.cache_fit is not None
        assert plan.cache_fit.added_keys == 500  # a fresh plan: every key is new
        assert plan.cache_fit.fits
        assert plan.cache_fit.advice is None
        result = run_slice(w.env, "items", 0)
        assert result is not None
        synced = result.metrics.rows_inserted
        assert 0 < synced < 500  # the source's bad rows are dead-lettered, not synced
        # keys as big as a gigabyte each: no server holds that index
        monkeypatch.setattr(sizing, "INDEX_BYTES_PER_KEY", 10**9)
        with caplog.at_level(logging.WARNING, logger="syncflow_core.background"):
            again = plan_background(w.env, "items", rows_per_day=1000, chunk_rows=250)
        assert again.cache_fit is not None
        assert again.cache_fit.added_keys == 500 - synced  # keys not in the state yet
        assert again.cache_fit.index_bytes > 0
        assert not again.cache_fit.fits
        warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert any("shared_buffers to at least" in m and m.startswith("items: ") for m in warnings)


def test_a_failed_slice_resumes_at_its_first_uncommitted_chunk(
    state_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies at the third chunk's commit (a crash injected into our own code;
    tests/e2e kills a real process with SIGKILL)."""
    from syncflow_core import track as track_stage

    sizes = {"items": 1000, "work_centers": 5, "orders": 5, "order_lines": 5}
    with world(state_url, tmp_path, sizes=sizes) as w:
        plan_background(w.env, "items", rows_per_day=1000, chunk_rows=250)
        real = track_stage.commit_chunk
        commits = []

        def crash_on_third(batch, chunk):  # type: ignore[no-untyped-def]
            if len(commits) == 2:
                raise RuntimeError("killed mid-slice")
            real(batch, chunk)
            commits.append(chunk.seq)

        with monkeypatch.context() as patch:
            patch.setattr(track_stage, "commit_chunk", crash_on_third)
            with pytest.raises(RuntimeError, match="killed mid-slice"):
                run_slice(w.env, "items", 0)
        row = w.env.store.schedule.plan(w.env.store.schedule.latest_plan_id("items"))  # type: ignore[arg-type]
        assert row["status"].to_list() == ["failed"]
        assert row["chunks_done"].to_list() == [2]
        inserted = w.writes()["entities"]["items"]["insert"]["applied"]
        result = run_slice(w.env, "items", 0)
        assert result is not None
        assert result.metrics.rows_fetched == 1000 - int(row["rows_done"][0])  # not repeated
        assert w.writes()["entities"]["items"]["insert"]["applied"] >= inserted
        w.assert_exact(only=("items",))


def _looked_up(w: World, result: BatchResult | None) -> int:
    """Keys the slice's delta looked up in the state (its batch's metrics)."""
    assert result is not None
    assert result.status == "succeeded", result.error_message
    return int(w.env.store.batches.get(result.batch_uid).metrics["state_keys_looked_up"])


def test_slices_of_a_fresh_plan_skip_the_state_lookups(state_url: str, tmp_path: Path) -> None:
    sizes = {"items": 3000, "work_centers": 5, "orders": 5, "order_lines": 5}
    with world(state_url, tmp_path, sizes=sizes) as w:
        plan = plan_background(w.env, "items", rows_per_day=1000, chunk_rows=300)
        assert plan.slices["fresh"].to_list() == [True, True, True]
        results = [run_slice(w.env, "items", n) for n in range(3)]
        assert [_looked_up(w, r) for r in results] == [0, 0, 0]
        batches = [w.env.store.batches.get(r.batch_uid) for r in results if r is not None]
        assert {b.kind for b in batches} == {"background"}
        inserted = sum(r.metrics.rows_inserted for r in results if r is not None)
        assert inserted == w.writes()["entities"]["items"]["insert"]["applied"]
        w.assert_exact(only=("items",))
        # with state there now, a new plan is not fresh, and its slices look their keys up
        again = plan_background(w.env, "items", rows_per_day=1000, chunk_rows=300)
        assert not any(again.slices["fresh"].to_list())
        redo = run_slice(w.env, "items", 0)
        assert _looked_up(w, redo) > 0
        assert redo is not None
        assert redo.metrics.rows_inserted == redo.metrics.rows_updated == 0


def test_a_sync_after_planning_makes_the_slices_look_their_keys_up(
    state_url: str, tmp_path: Path
) -> None:
    """The regular sync writes keys of every slice after the plan was made: the slices
    must find them in the state (skipped), not send them again."""
    sizes = {"items": 2000, "work_centers": 5, "orders": 5, "order_lines": 5}
    with world(state_url, tmp_path, sizes=sizes) as w:
        plan = plan_background(w.env, "items", rows_per_day=1000, chunk_rows=400)
        assert plan.slices["fresh"].all()
        first = run_slice(w.env, "items", 0)
        assert _looked_up(w, first) == 0  # only the plan's own batches so far
        sync_window(w.env, "items", w.windows())
        before = w.writes()["entities"]["items"]
        second = run_slice(w.env, "items", 1)
        assert _looked_up(w, second) > 0
        assert second is not None
        assert second.metrics.rows_inserted == second.metrics.rows_updated == 0
        assert second.metrics.rows_skipped > 0
        assert w.writes()["entities"]["items"] == before  # not even a refused insert
        w.assert_exact(only=("items",))


def test_a_plan_is_not_fresh_when_schedulehub_has_records_the_state_lacks(
    state_url: str, tmp_path: Path
) -> None:
    """A lost state database: ScheduleHub holds the records, so the keys may be anywhere."""
    import sqlalchemy as sa

    from syncflow_core.state.tables import erp_sync_state

    sizes = {"items": 1000, "work_centers": 5, "orders": 5, "order_lines": 5}
    with world(state_url, tmp_path, sizes=sizes) as w:
        sync_window(w.env, "items", w.windows())
        with w.env.store.transaction() as conn:
            conn.execute(sa.delete(erp_sync_state))
        plan = plan_background(w.env, "items", rows_per_day=500, chunk_rows=250)
        assert not plan.slices["fresh"].any()
        before = w.writes()["entities"]["items"]["insert"]["applied"]
        results = [run_slice(w.env, "items", n) for n in range(plan.slices.height)]
        assert all(r is not None and r.metrics.rows_inserted == 0 for r in results)
        assert w.writes()["entities"]["items"]["insert"]["applied"] == before
        w.assert_exact(only=("items",))
