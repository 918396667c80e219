"""The schedules (``build_schedule_context``) and the re-drive sensor
(``build_sensor_context``), on the real definitions and a real state store."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from syncflow_core.catalog import load_catalog
from syncflow_dagster.tags import entity_tag
from tests.dagster.conftest import DagsterWorld

ENTITIES = list(load_catalog())


def test_sync_schedule_runs_todays_partition_every_15_minutes(dworld: DagsterWorld) -> None:
    schedule = dworld.defs.resolve_schedule_def("sync_today_every_15_minutes")
    assert schedule.cron_schedule == "*/15 * * * *"
    assert schedule.job_name == "sync_all"
    when = dt.datetime(2025, 1, 3, 10, 15, tzinfo=dt.UTC)
    with dg.build_schedule_context(instance=dworld.instance, scheduled_execution_time=when) as ctx:
        request = schedule.evaluate_tick(ctx).run_requests
    assert request is not None
    assert len(request) == 1
    assert request[0].partition_key == "2025-01-03"
    for entity in ENTITIES:
        assert request[0].tags[entity_tag(entity)] == "2025-01-03"


def test_the_15_minute_schedule_syncs_what_landed_today(dworld: DagsterWorld) -> None:
    schedule = dworld.defs.resolve_schedule_def("sync_today_every_15_minutes")
    when = dt.datetime(2025, 1, 2, 23, 45, tzinfo=dt.UTC)
    with dg.build_schedule_context(instance=dworld.instance, scheduled_execution_time=when) as ctx:
        [request] = schedule.evaluate_tick(ctx).run_requests or []
    result = dworld.run("sync_all", start=request.partition_key, tags=request.tags)
    assert result.success
    partitions = {
        e.step_materialization_data.materialization.partition
        for e in result.get_asset_materialization_events()
    }
    assert partitions == {"2025-01-02"}
    run = dworld.instance.get_run_by_id(result.run_id)
    assert run is not None
    assert run.tags[entity_tag("items")] == "2025-01-02"


def test_reconcile_schedule_is_daily_and_tagged(dworld: DagsterWorld) -> None:
    schedule = dworld.defs.resolve_schedule_def("reconcile_daily")
    assert schedule.job_name == "reconcile"
    assert schedule.cron_schedule == "30 2 * * *"
    with dg.build_schedule_context(instance=dworld.instance) as ctx:
        [request] = schedule.evaluate_tick(ctx).run_requests or []
    assert {request.tags[entity_tag(e)] for e in ENTITIES} == {"reconcile"}


def _evaluate(dworld: DagsterWorld) -> dg.SensorResult | dg.SkipReason | object:
    sensor = dworld.defs.resolve_sensor_def("redrive_when_due")
    resources = {"syncflow": (dworld.defs.resources or {})["syncflow"]}
    with dg.build_sensor_context(instance=dworld.instance, resources=resources) as ctx:
        return sensor.evaluate_tick(ctx)


def test_the_sensor_skips_when_nothing_is_due(dworld: DagsterWorld) -> None:
    tick = _evaluate(dworld)
    assert tick.run_requests == []  # type: ignore[attr-defined]
    assert "no failed record or parked child is due" in str(tick.skip_message)  # type: ignore[attr-defined]


def test_the_sensor_launches_redrive_when_children_are_due(
    dworld: DagsterWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCFLOW_PENDING_CHECK_SECONDS", "0")
    dworld.run("sync_all", start="2025-01-01", end="2025-01-03")
    parked = dworld.world.env.store.pending.count()
    assert parked > 0
    [request] = _evaluate(dworld).run_requests  # type: ignore[attr-defined]
    assert request.tags["syncflow/due_pending"] == str(parked)
    assert {request.tags[entity_tag(e)] for e in ENTITIES} == {"redrive"}
    # the run it asks for
    result = dworld.run("redrive", tags=request.tags)
    assert result.success


def test_the_sensor_waits_for_a_redrive_run_still_going(
    dworld: DagsterWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCFLOW_PENDING_CHECK_SECONDS", "0")
    dworld.run("sync_all", start="2025-01-01", end="2025-01-03")
    job = dworld.defs.resolve_job_def("redrive")
    run = dworld.instance.create_run_for_job(job_def=job, status=dg.DagsterRunStatus.STARTED)
    tick = _evaluate(dworld)
    assert tick.run_requests == []  # type: ignore[attr-defined]
    assert run.run_id in str(tick.skip_message)  # type: ignore[attr-defined]
