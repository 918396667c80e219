"""Operations in the Dagster layer, against both emulators: the ``system_health`` asset
check, the dry-run flag of an entity asset, and schema drift on the materialization."""

from __future__ import annotations

import datetime as dt
import socket
from typing import Any

import dagster as dg
import pytest

from syncflow_core.plan import plan_sync
from syncflow_core.windows import Window
from syncflow_dagster.health_checks import SYSTEM_HEALTH
from tests.dagster.conftest import DagsterWorld
from tests.dagster.test_assets import RANGE, metadata_by_asset
from tests.support.ops import hub_writes, state_snapshot

ENTITIES = ["items", "work_centers", "orders", "order_lines"]
ACTIVITY_DAY = "2025-01-04"  # ERP activity lands the day after the world's three days


def event_log_text(dw: DagsterWorld, run_id: str) -> str:
    return "\n".join(repr(r) for r in dw.instance.all_logs(run_id))


def secrets_of(dw: DagsterWorld) -> list[str]:
    s = dw.world.settings
    return [s.apismith_jwt_secret.get_secret_value(), s.schedulehub_jwt_secret.get_secret_value()]


def health_of(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    """asset -> its system_health evaluation."""
    found = {}
    for e in result.get_asset_check_evaluations():
        assert e.check_name == SYSTEM_HEALTH
        found[e.asset_key.to_user_string()] = e
    return found


# --- system_health ---------------------------------------------------------------------------


def test_system_health_passes_on_every_entity_asset(pg_dworld: DagsterWorld) -> None:
    result = pg_dworld.run("health")
    assert result.success
    checks = health_of(result)
    assert sorted(checks) == sorted(ENTITIES)
    for check in checks.values():
        assert check.passed is True
        assert check.severity == dg.AssetCheckSeverity.ERROR
        meta = {k: getattr(v, "value", v) for k, v in check.metadata.items()}
        for system in ("state_database", "apismith", "schedulehub"):
            assert meta[f"{system}_status"] == "ok"
            assert meta[f"{system}_latency_ms"] > 0
        assert meta["state_database_target"].startswith("postgresql+psycopg://")
        assert "schema at revision" in meta["state_database_detail"]
    # the checks are kept by the instance, as the asset's page shows them
    latest = pg_dworld.instance.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("items"), SYSTEM_HEALTH)]
    )
    assert next(iter(latest.values())).run_id == result.run_id


def test_system_health_fails_on_a_wrong_secret_naming_the_system(
    pg_dworld: DagsterWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "not-the-schedulehub-secret-0123456789"
    monkeypatch.setenv("SYNCFLOW_SCHEDULEHUB_JWT_SECRET", wrong)
    result = pg_dworld.run("health")
    assert result.success  # a failed check is the check's result, not a failed run
    for check in health_of(result).values():
        assert check.passed is False
        assert check.severity == dg.AssetCheckSeverity.ERROR
        assert check.description.startswith("ScheduleHub authentication failed")
        assert "SYNCFLOW_SCHEDULEHUB_JWT_SECRET" in check.description
        assert check.metadata["apismith_status"].value == "ok"
        assert check.metadata["state_database_status"].value == "ok"
    text = event_log_text(pg_dworld, result.run_id)
    assert "ScheduleHub authentication failed" in text
    for secret in [wrong, *secrets_of(pg_dworld)]:
        assert secret not in text


def test_system_health_fails_when_schedulehub_is_down(
    pg_dworld: DagsterWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("SYNCFLOW_SCHEDULEHUB_URL", f"http://127.0.0.1:{port}")
    result = pg_dworld.run(
        "health", run_config={"ops": {SYSTEM_HEALTH: {"config": {"timeout_seconds": 2}}}}
    )
    checks = health_of(result)
    assert not any(c.passed for c in checks.values())
    description = checks["items"].description
    assert description.startswith("ScheduleHub unreachable")
    assert "Connection refused" in description
    assert checks["items"].metadata["schedulehub_target"].value.endswith(str(port))


def test_the_sync_jobs_leave_the_health_check_out(dworld: DagsterWorld) -> None:
    result = dworld.run("sync_items", start="2025-01-01")
    names = {e.check_name for e in result.get_asset_check_evaluations()}
    assert names == {"success_rate", "dead_letters", "pending_age"}


# --- dry run -------------------------------------------------------------------------------


def dry_run_config(entity: str, **config: Any) -> dict[str, Any]:
    fetch = {f"{entity}_fetch": {"config": {"dry_run": True, **config}}}
    return {"ops": {entity: {"ops": fetch}}}


def observations(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """partition -> metadata values of the run's observations."""
    found = {}
    for event in result.all_events:
        if event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:
            o = event.asset_observation_data.asset_observation
            found[str(o.partition)] = {k: getattr(v, "value", v) for k, v in o.metadata.items()}
    return found


def test_a_dry_run_reports_the_plan_and_writes_nothing(pg_dworld: DagsterWorld) -> None:
    dw, store = pg_dworld, pg_dworld.world.env.store
    dw.run("sync_items", start=RANGE[0], end=RANGE[1])
    dw.world.erp.activity("items", change=20, touch=10, add=5)  # lands on ACTIVITY_DAY
    before_state, before_hub = state_snapshot(store), hub_writes(dw.world.writes())
    expected = plan_sync(dw.world.env, "items", [Window.day(dt.date.fromisoformat(ACTIVITY_DAY))])

    result = dw.run("sync_items", start=ACTIVITY_DAY, run_config=dry_run_config("items"))

    assert result.success
    assert result.get_asset_materialization_events() == []
    assert result.get_asset_check_evaluations() == []
    plan = observations(result)[ACTIVITY_DAY]
    assert plan["dry_run"] is True
    counts = {
        "fetched": plan["rows_fetched"],
        "inserted": plan["would_insert"],
        "updated": plan["would_update"],
        "skipped": plan["would_skip"],
        "failed": plan["would_fail"],
        "parked": plan["would_park"],
        "superseded": plan["would_supersede"],
    }
    assert counts == expected.counts
    assert counts["inserted"] >= 5  # some of the ERP's new rows may fail
    assert counts["updated"] >= 15
    assert counts["skipped"] > 0  # the touched rows
    updated = plan["plan_json"]["samples"]["updated"]
    assert len(updated) == 5
    assert all(u["changes"] for u in updated)  # field by field
    assert "description" in {c["field"] for c in updated[0]["changes"]}
    assert "Nothing was written." in plan["plan"]
    assert state_snapshot(store) == before_state  # no batch, lease, state, queue, watermark
    assert hub_writes(dw.world.writes()) == before_hub

    real = dw.run("sync_items", start=ACTIVITY_DAY)
    done = metadata_by_asset(real)["items"][ACTIVITY_DAY]
    assert done["rows_inserted"] == counts["inserted"]
    assert done["rows_updated"] == counts["updated"]
    assert done["rows_failed"] == counts["failed"]


def test_a_first_dry_run_compares_with_nothing_over_a_range(dworld: DagsterWorld) -> None:
    store = dworld.world.env.store
    before_state, before_hub = state_snapshot(store), hub_writes(dworld.world.writes())
    result = dworld.run(
        "sync_order_lines", start=RANGE[0], end=RANGE[1], run_config=dry_run_config("order_lines")
    )
    plans = observations(result)
    assert sorted(plans) == ["2025-01-01", "2025-01-02", "2025-01-03", "2025-01-04", "2025-01-05"]
    plan = plans["2025-01-01"]
    assert plan["compared_with"].startswith("nothing")
    assert plan["would_park"] > 0  # no parent is in ScheduleHub yet
    assert plan["would_insert"] == 0
    assert len(plan["plan_json"]["samples"]["parked"]) == 5
    assert state_snapshot(store) == before_state
    assert hub_writes(dworld.world.writes()) == before_hub


# --- schema drift ----------------------------------------------------------------------------


def test_a_new_source_column_is_reported_and_ignored(dworld: DagsterWorld) -> None:
    dworld.world.erp.drift("items", add=[("COLOR", "VARCHAR2(10)")])
    result = dworld.run("sync_items", start=RANGE[0], end=RANGE[1])
    assert result.success
    items = metadata_by_asset(result)["items"]["2025-01-01"]
    assert items["schema_added_columns"] == "COLOR"
    assert items["rows_failed"] < items["rows_fetched"] * 0.1  # synced as before
    messages = [r.user_message for r in dworld.instance.all_logs(result.run_id)]
    drift = [m for m in messages if "source schema changed (ignored)" in m]
    assert len(drift) == 1
    assert "'schema_added_columns': 'COLOR'" in drift[0]
    assert '"level":"WARNING"' in drift[0]
    assert '"stage":"fetch"' in drift[0]
    finished = [m for m in messages if "items sync batch" in m]
    assert len(finished) == 1
    assert f'"metrics":{{"rows_fetched":{items["rows_fetched"]},' in finished[0]
    dworld.world.assert_exact(only=("items",))


def test_a_removed_source_column_fails_the_run_with_a_clear_message(
    dworld: DagsterWorld,
) -> None:
    dworld.world.erp.drift("work_centers", drop=["CAPACITY"])
    result = dworld.run("sync_work_centers", start=RANGE[0], raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert (
        "work_centers: APISmith's schema drifted from the catalog: column(s) removed: "
        "CAPACITY" in str(failure.event_specific_data)
    )
    assert dworld.world.writes()["entities"]["work_centers"]["insert"]["applied"] == 0
