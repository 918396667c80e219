"""The entity assets, materialized with ``materialize()`` against both emulators: a
partition range as one run, the metadata, the checks, re-syncs, and leases."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from syncflow_core.lease import Lease
from syncflow_core.metrics import OUTCOMES
from syncflow_core.pipeline import STAGES
from syncflow_dagster.io_managers import HandoffMemoryIOManager
from tests.dagster.conftest import DagsterWorld

RANGE = ("2025-01-01", "2025-01-05")
ENTITIES = ["items", "work_centers", "orders", "order_lines"]


def materialize(dw: DagsterWorld, *, selection: list[str] | None = None, **kwargs: Any) -> Any:
    """``dagster.materialize`` of the definitions' entity assets (by default; the background
    asset has partitions of its own), with their resources."""
    assets = list(dw.defs.assets or [])
    return dg.materialize(
        assets,  # type: ignore[arg-type]
        instance=dw.instance,
        resources=dict(dw.defs.resources or {}),
        selection=selection or ENTITIES,
        **kwargs,
    )


def range_tags(start: str, end: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": start,
        "dagster/asset_partition_range_end": end,
    }


def metadata_by_asset(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, dict[str, Any]]]:
    """asset -> partition -> metadata values."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for event in result.get_asset_materialization_events():
        m = event.step_materialization_data.materialization
        values = {k: getattr(v, "value", v) for k, v in m.metadata.items()}
        found.setdefault(m.asset_key.to_user_string(), {})[str(m.partition)] = values
    return found


def test_a_range_is_one_run_with_a_materialization_per_partition(dworld: DagsterWorld) -> None:
    result = materialize(dworld, tags=range_tags(*RANGE))
    assert result.success
    by_asset = metadata_by_asset(result)
    assert sorted(by_asset) == sorted(ENTITIES)
    days = ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04", "2025-01-05"]
    for entity, partitions in by_asset.items():
        assert sorted(partitions) == days, entity
        first = partitions[days[0]]
        assert all(p == first for p in partitions.values())  # the batch's, for each day
        assert first["windows"] == "2025-01-01...2025-01-05 (5 days)"
    runs = dworld.instance.get_runs()
    assert len(runs) == 1
    dworld.world.assert_exact()


def test_metadata_has_every_counter_and_stage_as_numbers(dworld: DagsterWorld) -> None:
    result = materialize(dworld, tags=range_tags(*RANGE))
    items = metadata_by_asset(result)["items"]["2025-01-01"]
    for name in ("rows_fetched", "rows_deleted", *OUTCOMES):
        assert isinstance(items[name], int), name
    assert isinstance(items["success_rate"], float)
    for stage in STAGES:
        assert isinstance(items[f"seconds_{stage}"], float), stage
    assert items["seconds_fetch"] > 0
    assert items["rows_per_second"] > 0
    accounted = sum(items[name] for name in OUTCOMES)
    assert accounted == items["rows_fetched"] > 1000
    batch = dworld.world.env.store.batches.get(items["batch_uid"])
    assert batch.status == "succeeded"
    assert batch.dagster_run_id == result.run_id
    assert batch.counts["rows_inserted"] == items["rows_inserted"]


def test_children_run_after_their_parents(dworld: DagsterWorld) -> None:
    result = materialize(dworld, tags=range_tags(*RANGE))
    finished = [
        e.step_key
        for e in result.all_events
        if e.event_type == dg.DagsterEventType.STEP_SUCCESS and str(e.step_key).endswith("_track")
    ]
    position = {str(step).split(".")[0]: i for i, step in enumerate(finished)}
    assert position["order_lines"] > position["orders"]
    assert position["order_lines"] > position["items"]


def test_the_checks_pass_and_fail_on_their_thresholds(
    dworld: DagsterWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = materialize(dworld, tags=range_tags(*RANGE))
    checks = {
        (e.asset_key.to_user_string(), e.check_name): e
        for e in result.get_asset_check_evaluations()
    }
    assert len(checks) == 3 * len(ENTITIES)
    assert all(e.passed for e in checks.values())
    rate = checks[("items", "success_rate")].metadata["success_rate"].value
    assert 0.9 < rate < 1.0  # the generator's failing rows
    # stricter thresholds: the same numbers now fail
    monkeypatch.setenv("SYNCFLOW_CHECK_MIN_SUCCESS_RATE", "0.999")
    monkeypatch.setenv("SYNCFLOW_CHECK_MAX_DEAD_LETTERS", "1")
    dworld.world.erp.activity("items", change=5)
    again = materialize(dworld, selection=["items"], tags=range_tags(*RANGE))
    evaluations = {e.check_name: e for e in again.get_asset_check_evaluations()}
    assert evaluations["dead_letters"].passed is False
    assert evaluations["dead_letters"].severity == dg.AssetCheckSeverity.WARN
    assert evaluations["dead_letters"].metadata["dead_letters"].value > 1
    assert evaluations["pending_age"].passed is True


def test_a_failing_success_rate_is_an_error_check(
    dworld: DagsterWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SYNCFLOW_CHECK_MIN_SUCCESS_RATE", "0.999")
    result = materialize(dworld, selection=["items"], tags=range_tags(*RANGE))
    rate = {e.check_name: e for e in result.get_asset_check_evaluations()}["success_rate"]
    assert rate.passed is False
    assert rate.severity == dg.AssetCheckSeverity.ERROR


def test_a_no_change_resync_writes_nothing(dworld: DagsterWorld) -> None:
    materialize(dworld, tags=range_tags(*RANGE))
    before = dworld.world.writes()
    again = metadata_by_asset(materialize(dworld, tags=range_tags(*RANGE)))
    assert all(a["2025-01-01"]["rows_fetched"] == 0 for a in again.values())
    assert dworld.world.writes() == before


def test_one_partition_fetches_only_its_day(dworld: DagsterWorld) -> None:
    result = materialize(dworld, selection=["items"], partition_key="2025-01-02")
    items = metadata_by_asset(result)["items"]
    assert list(items) == ["2025-01-02"]
    fetched = items["2025-01-02"]["rows_fetched"]
    total = dworld.world.source("items").rows_in
    assert 0 < fetched < total
    assert items["2025-01-02"]["windows"] == "2025-01-02"


def test_a_held_lease_fails_the_run_and_writes_nothing(dworld: DagsterWorld) -> None:
    store = dworld.world.env.store
    other = Lease(store, "items", ["2025-01-02"], "someone-else@elsewhere:1", 600)
    other.acquire()
    try:
        result = materialize(
            dworld, selection=["items"], partition_key="2025-01-02", raise_on_error=False
        )
    finally:
        other.release()
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert failure.step_key == "items.items_fetch"
    assert "being synced by another run" in str(failure.event_specific_data)
    assert dworld.world.writes()["entities"]["items"]["insert"]["applied"] == 0


def test_memory_handoffs_are_forgotten_once_read(dworld: DagsterWorld) -> None:
    io = HandoffMemoryIOManager()
    resources = {**dict(dworld.defs.resources or {}), "syncflow_handoff": io}
    result = dg.materialize(
        list(dworld.defs.assets or []),  # type: ignore[arg-type]
        instance=dworld.instance,
        resources=resources,
        selection=["items"],
        partition_key="2025-01-01",
    )
    assert result.success
    assert io.pending() == 0


def test_no_secret_reaches_the_event_log(dworld: DagsterWorld) -> None:
    dworld.world.erp.set_faults(error_rate=0.2, error_statuses=[503])  # retries get logged
    result = materialize(dworld, tags=range_tags(*RANGE))
    assert result.success
    settings = dworld.world.settings
    secrets = [
        settings.apismith_jwt_secret.get_secret_value(),
        settings.schedulehub_jwt_secret.get_secret_value(),
    ]
    records = dworld.instance.all_logs(result.run_id)
    text = "\n".join(repr(r) for r in records)
    assert "syncflow_core" in text  # the core's own lines are in the run's log
    for secret in secrets:
        assert secret not in text


def rescan_config(entity: str) -> dict[str, Any]:
    fetch = {f"{entity}_fetch": {"config": {"full_rescan": True}}}
    return {"ops": {entity: {"ops": fetch}}}


def test_a_full_rescan_reads_everything_and_writes_nothing(dworld: DagsterWorld) -> None:
    materialize(dworld, tags=range_tags(*RANGE))
    before = dworld.world.writes()
    result = materialize(
        dworld, selection=["items"], tags=range_tags(*RANGE), run_config=rescan_config("items")
    )
    items = metadata_by_asset(result)["items"]["2025-01-01"]
    assert items["rows_fetched"] == dworld.world.source("items").rows_in
    assert items["rows_skipped"] > 0
    assert items["rows_inserted"] == items["rows_updated"] == 0
    assert dworld.world.writes() == before
