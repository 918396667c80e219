"""The background sync in Dagster, on real runs against both emulators and a PostgreSQL
state store: the planning job makes the plan's days the partitions of ``items_background``,
the daily schedule asks for one slice a day, a single-run backfill does the rest, the
materializations carry the plan's progress, and the lease keeps a regular sync of the same
days out."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from syncflow_core.state import StateStore, sizing
from syncflow_dagster.background import BACKGROUND, PLAN_JOB
from syncflow_dagster.tags import entity_tag
from tests.dagster.conftest import DagsterWorld, dagster_world

DAYS = "items_background_days"
PLAN = {"rows_per_day": 400, "chunk_rows": 150, "first_day": "2025-01-01"}
SIZES = {"items": 1200, "work_centers": 5, "orders": 5, "order_lines": 5}


@pytest.fixture
def pg_dworld(
    pg_database_factory: Callable[[], str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[DagsterWorld]:
    """Emulators, PostgreSQL state of its own, the environment, the definitions."""
    url = pg_database_factory()
    with StateStore(url) as store:
        store.upgrade()
    with dagster_world(url, tmp_path, monkeypatch, sizes=SIZES) as dw:
        yield dw


def plan(dw: DagsterWorld, **config: Any) -> dg.ExecuteInProcessResult:
    run_config = {"ops": {"plan_items_background": {"config": {**PLAN, **config}}}}
    return dw.defs.resolve_job_def(PLAN_JOB).execute_in_process(
        instance=dw.instance, run_config=run_config, raise_on_error=False
    )


def tick(dw: DagsterWorld, day: str) -> Any:
    schedule = dw.defs.resolve_schedule_def("items_background_daily")
    when = dt.datetime.fromisoformat(day).replace(hour=1, tzinfo=dt.UTC)
    resources = {"syncflow": (dw.defs.resources or {})["syncflow"]}
    with dg.build_schedule_context(
        instance=dw.instance,
        scheduled_execution_time=when,
        resources=resources,
        repository_def=dw.defs.get_repository_def(),
    ) as ctx:
        return schedule.evaluate_tick(ctx)


def metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    events = result.get_asset_materialization_events()
    assert events
    values = {k: v.value for k, v in events[-1].materialization.metadata.items()}
    assert all(
        {k: v.value for k, v in e.materialization.metadata.items()} == values for e in events
    )
    return values


@pytest.mark.postgres
def test_one_slice_a_day_then_a_backfill_of_the_rest(pg_dworld: DagsterWorld) -> None:
    dw = pg_dworld
    assert plan(dw).success
    days = ["2025-01-01", "2025-01-02", "2025-01-03"]
    assert sorted(dw.instance.get_dynamic_partitions(DAYS)) == days
    assert tick(dw, "2024-12-31").run_requests == []  # nothing due before the first day

    [request] = tick(dw, "2025-01-01").run_requests
    assert request.partition_key == "2025-01-01"
    assert request.tags[entity_tag("items")] == BACKGROUND
    job = dw.defs.resolve_job_def("items_background_job")
    first = job.execute_in_process(
        instance=dw.instance, partition_key=request.partition_key, tags=request.tags
    )
    assert first.success
    progress = metadata(first)
    assert progress["slices"] == 3
    assert progress["slices_done"] == 1
    assert progress["rows_done"] == progress["rows_this_run"] == 400
    assert progress["rows_planned"] == 1200
    assert progress["rows_per_second"] > 0
    assert progress["eta_seconds_at_this_rate"] > 0
    assert progress["next_day"] == "2025-01-02"
    # two slices to go, one a day from the next day (or from today, when that has passed)
    today = dt.datetime.now(dt.UTC).date()
    finish = max(dt.date(2025, 1, 2), today) + dt.timedelta(days=1)
    assert progress["eta_day_at_one_slice_a_day"] == finish.isoformat()

    # the schedule a few days late takes the first slice not done
    [late] = tick(dw, "2025-01-09").run_requests
    assert late.partition_key == "2025-01-02"

    # a backfill of every day, as one run: the done slice costs nothing
    rest = job.execute_in_process(
        instance=dw.instance,
        tags={
            "dagster/asset_partition_range_start": days[0],
            "dagster/asset_partition_range_end": days[-1],
        },
    )
    assert rest.success
    progress = metadata(rest)
    assert progress["slices_done"] == 3
    assert progress["rows_done"] == 1200
    assert progress["rows_this_run"] == 800
    assert progress["eta_day_at_one_slice_a_day"] == "done"
    partitions = {e.partition for e in rest.get_asset_materialization_events()}
    assert partitions == set(days)
    assert tick(dw, "2025-01-09").run_requests == []
    dw.world.assert_exact(only=("items",))
    batches = dw.world.env.store.batches.recent("items", limit=10)
    assert batches["kind"].to_list() == ["background"] * 3
    assert set(batches["dagster_run_id"].to_list()) == {first.run_id, rest.run_id}


@pytest.mark.postgres
def test_a_plan_is_not_replaced_by_accident(pg_dworld: DagsterWorld) -> None:
    dw = pg_dworld
    assert plan(dw).success
    again = plan(dw, rows_per_day=600)
    assert not again.success
    assert "still has 3 slices to do" in str(again.all_events)
    assert len(dw.instance.get_dynamic_partitions(DAYS)) == 3
    assert plan(dw, rows_per_day=600, replace=True, first_day="2024-12-31").success
    # in the days' order (a backfill's range follows it)
    assert dw.instance.get_dynamic_partitions(DAYS) == ["2024-12-31", "2025-01-01"]


@pytest.mark.postgres
def test_a_regular_sync_holding_the_days_keeps_the_slice_out(pg_dworld: DagsterWorld) -> None:
    dw = pg_dworld
    assert plan(dw).success
    env = dw.world.env
    holder = "regular-sync@elsewhere:1"
    assert env.store.leases.acquire("items", ["2025-01-01"], holder, ttl_seconds=600)
    job = dw.defs.resolve_job_def("items_background_job")
    blocked = job.execute_in_process(
        instance=dw.instance, partition_key="2025-01-01", raise_on_error=False
    )
    assert not blocked.success
    assert "is being synced by another run" in str(blocked.all_events)
    assert dw.world.writes()["entities"].get("items", {}).get("insert", {}).get("applied", 0) == 0
    slices = env.store.schedule.plan(env.store.schedule.latest_plan_id("items"))  # type: ignore[arg-type]
    assert slices["status"].to_list()[0] == "planned"  # still to do
    env.store.leases.release("items", ["2025-01-01"], holder)
    assert job.execute_in_process(instance=dw.instance, partition_key="2025-01-01").success


def plan_metadata(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    [output] = [e for e in result.all_node_events if e.is_successful_output]
    return {k: v.value for k, v in output.step_output_data.metadata.items()}


@pytest.mark.postgres
def test_the_plan_shows_whether_the_state_index_will_fit_the_buffers(
    pg_dworld: DagsterWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    dw = pg_dworld
    result = plan(dw)
    assert result.success
    shown = plan_metadata(result)
    # the figures of the core's check (tests/integration/test_state_sizing.py checks those
    # against the server)
    fit = sizing.cache_fit(dw.world.env.store.engine, 0)
    assert fit is not None
    assert shown["shared_buffers_mb"] == fit.as_metadata()["shared_buffers_mb"]
    assert shown["state_index_mb_after_plan"] > shown["state_index_mb"] >= 0
    assert "state_server_advice" not in shown

    monkeypatch.setattr(sizing, "INDEX_BYTES_PER_KEY", 10**9)
    again = plan(dw, replace=True)
    assert again.success
    advice = plan_metadata(again)["state_server_advice"]
    assert advice.startswith("the state's primary key will be about")
    warned = [
        e.user_message for e in dw.instance.all_logs(again.run_id) if e.level == logging.WARNING
    ]
    assert any("shared_buffers to at least" in message for message in warned)
