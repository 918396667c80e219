"""``syncflow plan``: a dry run shows what the following real sync then does, and writes
nothing anywhere (every state table and ScheduleHub's write counters unchanged)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import orjson
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from syncflow_core.cli import cli
from syncflow_core.metrics import BatchMetrics
from syncflow_core.pipeline import sync_window
from syncflow_core.plan import SyncPlan, plan_sync
from syncflow_core.reconcile import reconcile
from syncflow_core.state import StateStore, metadata
from syncflow_core.windows import Window
from tests.support.ops import env_vars, hub_writes, state_snapshot
from tests.support.world import World, world

COUNTED = {
    "fetched": "rows_fetched",
    "inserted": "rows_inserted",
    "updated": "rows_updated",
    "skipped": "rows_skipped",
    "failed": "rows_failed",
    "parked": "rows_pending",
    "superseded": "rows_superseded",
}


def dry_run(w: World, entity: str, windows: list[Window], **options: object) -> SyncPlan:
    """``plan_sync``, checking on the way that it wrote nothing anywhere."""
    state, hub = state_snapshot(w.env.store), hub_writes(w.writes())
    plan = plan_sync(w.env, entity, windows, **options)  # type: ignore[arg-type]
    assert state_snapshot(w.env.store) == state, "the dry run wrote to the state store"
    assert hub_writes(w.writes()) == hub, "the dry run wrote to ScheduleHub"
    return plan


def assert_same(plan: SyncPlan, metrics: BatchMetrics) -> None:
    done = {name: getattr(metrics, column) for name, column in COUNTED.items()}
    assert plan.counts == done


def test_plan_of_a_first_load_equals_the_sync_entity_by_entity(
    state_url: str, tmp_path: Path
) -> None:
    with world(state_url, tmp_path) as w:
        for entity in w.env.parents_first():
            plan = dry_run(w, entity, w.windows())
            assert plan.compared_with.startswith("nothing")
            result = sync_window(w.env, entity, w.windows())
            assert_same(plan, result.metrics)
        assert plan.counts["parked"] > 0  # order lines waiting for late orders
        parked = plan.samples["parked"]
        assert {p["waits_for"] for p in parked} <= {"orders", "items"}
        waiting = w.env.store.pending.find(entity="order_lines")
        assert set(p["erp_key_hash"] for p in parked) <= set(waiting["erp_key_hash"])


def test_plan_after_erp_activity_shows_the_changes_and_the_deletes(
    state_url: str, tmp_path: Path
) -> None:
    with world(state_url, tmp_path) as w:
        for entity in w.env.parents_first():
            sync_window(w.env, entity, w.windows())
        w.erp.activity("items", change=30, touch=10, add=6, delete=4)
        plan = dry_run(w, "items", w.windows(), deletes=True, sample=50)
        before = {u["erp_key_hash"]: w.env.schedulehub.get_by_key("items", u["erp_key_hash"])
                  for u in plan.samples["updated"]}  # fmt: skip
        result = sync_window(w.env, "items", w.windows())
        assert_same(plan, result.metrics)
        assert plan.counts["updated"] > 0
        assert plan.counts["inserted"] > 0
        assert len(plan.samples["updated"]) == plan.counts["updated"]  # all, with sample=50
        for update in plan.samples["updated"]:
            now = w.env.schedulehub.get_by_key("items", update["erp_key_hash"])
            assert now is not None
            was = before[update["erp_key_hash"]]
            assert update["changes"], update
            for change in update["changes"]:  # each shown change is what the sync did
                assert was[change["field"]] == change["before"]
                assert_equal_value(now[change["field"]], change["after"])
            unchanged = set(w.env.spec("items").data_fields) - {
                c["field"] for c in update["changes"]
            }
            for name in unchanged:
                assert_equal_value(now.get(name), was.get(name))
        inserted = {s["erp_key_hash"] for s in plan.samples["inserted"]}
        assert all(w.env.schedulehub.get_by_key("items", k) for k in inserted)
        assert plan.deletes is not None
        assert plan.deletes.rows == 4
        assert not plan.deletes.refused
        done = reconcile(w.env, "items").metrics
        # what the reconciliation tries; ScheduleHub refuses a parent that has children
        assert done.rows_deleted + done.rows_failed == plan.deletes.rows
        gone = {d["erp_key_hash"] for d in plan.samples["deleted"]}
        assert len(gone) == 4
        still = [k for k in gone if w.env.schedulehub.get_by_key("items", k)]
        assert len(still) == done.rows_failed


def assert_equal_value(have: object, want: object) -> None:
    if isinstance(have, str) and isinstance(want, str) and "T" in want and ":" in want:
        assert have.rstrip("Z")[:19] == want[:19]
    elif isinstance(have, int | float) and isinstance(want, int | float):
        assert float(have) == float(want)
    else:
        assert have == want


def test_lost_state_is_compared_with_the_index_in_memory(state_url: str, tmp_path: Path) -> None:
    with world(state_url, tmp_path) as w:
        sync_window(w.env, "items", w.windows())
        w.erp.activity("items", change=12)
        with w.env.store.transaction() as conn:  # the state database is lost
            for table in reversed(metadata.sorted_tables):
                conn.execute(sa.delete(table))
        plan = dry_run(w, "items", w.windows(), full_rescan=True)
        assert plan.compared_with.startswith("ScheduleHub's index")
        assert w.env.store.sync_state.count("items") == 0  # not rebuilt by the plan
        result = sync_window(w.env, "items", w.windows(), full_rescan=True)
        assert_same(plan, result.metrics)
        assert 0 < plan.counts["updated"] <= 12  # a changed row may fail normalization now
        assert plan.counts["inserted"] <= 12  # only a changed row that failed before is new
        assert plan.counts["skipped"] > 1000  # the rest is in ScheduleHub already


@pytest.mark.parametrize("full_rescan", [False, True], ids=["watermarks", "full-rescan"])
def test_second_plan_after_a_sync_sees_nothing_or_only_skips(
    state_url: str, tmp_path: Path, full_rescan: bool
) -> None:
    with world(state_url, tmp_path) as w:
        sync_window(w.env, "work_centers", w.windows())
        plan = dry_run(w, "work_centers", w.windows(), full_rescan=full_rescan)
        result = sync_window(w.env, "work_centers", w.windows(), full_rescan=full_rescan)
        assert_same(plan, result.metrics)
        fetched = plan.counts["fetched"]
        assert (fetched > 0) == full_rescan
        assert plan.counts["skipped"] == fetched - plan.counts["failed"]


def test_cli_plan_text_and_json(state_url: str, tmp_path: Path) -> None:
    with world(state_url, tmp_path) as w:
        sync_window(w.env, "items", w.windows())
        w.erp.activity("items", change=5, add=2)
        env = env_vars(w.settings)
        runner = CliRunner()
        first, last = w.windows()[0].key, w.windows()[-1].key
        state, hub = state_snapshot(w.env.store), hub_writes(w.writes())
        answer = runner.invoke(
            cli, ["plan", "items", "--from", first, "--to", last, "--json"], env=env
        )
        assert answer.exit_code == 0, answer.output
        payload = json.loads(answer.output)
        assert payload["windows"] == [x.key for x in w.windows()]
        assert payload["written"] is False
        assert payload["counts"]["deleted"] is None
        text = runner.invoke(cli, ["plan", "items", "--from", first, "--to", last], env=env)
        assert text.exit_code == 0, text.output
        assert "Nothing was written." in text.output
        table = {line.split()[0]: line.split()[1] for line in text.output.splitlines()
                 if line.split() and line.split()[0] in payload["counts"]}  # fmt: skip
        for name, count in payload["counts"].items():
            assert table[name] == (f"{count:,}" if count is not None else "-"), name
        assert "ScheduleHub now" in text.output
        assert state_snapshot(w.env.store) == state
        assert hub_writes(w.writes()) == hub
        result = sync_window(w.env, "items", w.windows())
        assert {k: v for k, v in payload["counts"].items() if k != "deleted"} == {
            name: getattr(result.metrics, column) for name, column in COUNTED.items()
        }
        one_day = runner.invoke(cli, ["plan", "items", "--partition", first, "--json"], env=env)
        assert json.loads(one_day.output)["windows"] == [first]
        today = runner.invoke(cli, ["plan", "items", "--json", "--sample", "0"], env=env)
        assert json.loads(today.output)["windows"] == [dt.datetime.now(dt.UTC).date().isoformat()]
        both = runner.invoke(cli, ["plan", "items", "--partition", first, "--from", first], env=env)
        assert both.exit_code == 2
        assert "not both" in both.output
        unknown = runner.invoke(cli, ["plan", "nothing", "--partition", first], env=env)
        assert unknown.exit_code == 2
        assert "unknown entity 'nothing'" in unknown.output


def test_cli_plan_refuses_an_unmigrated_store_and_migrates_nothing(
    state_url: str, tmp_path: Path, empty_db_url: str
) -> None:
    with world(state_url, tmp_path) as w:
        env = env_vars(w.settings, SYNCFLOW_DATABASE_URL=empty_db_url)
        answer = CliRunner().invoke(cli, ["plan", "items", "--partition", "2025-01-01"], env=env)
        assert answer.exit_code == 1
        assert "state store at revision None" in answer.output
        with StateStore(empty_db_url) as store:
            assert store.revision() is None


def test_json_of_a_plan_is_plain_json(state_url: str, tmp_path: Path) -> None:
    with world(state_url, tmp_path) as w:
        plan = dry_run(w, "orders", w.windows(), sample=2)
        decoded = orjson.loads(orjson.dumps(plan.as_dict()))
        assert decoded["counts"]["inserted"] == plan.counts["inserted"]
        assert len(decoded["samples"]["inserted"]) == 2
        assert set(decoded["samples"]["inserted"][0]["record"]) >= {"order_number", "erp_data_hash"}


def test_cli_plan_reports_schema_drift_in_one_line(state_url: str, tmp_path: Path) -> None:
    with world(state_url, tmp_path) as w:
        w.erp.drift("work_centers", drop=["CAPACITY"])
        state = state_snapshot(w.env.store)
        answer = CliRunner().invoke(
            cli, ["plan", "work_centers", "--partition", "2025-01-01"], env=env_vars(w.settings)
        )
        assert answer.exit_code == 1
        assert answer.output.startswith("Error: work_centers: APISmith's schema drifted")
        assert "column(s) removed: CAPACITY" in answer.output
        assert state_snapshot(w.env.store) == state
