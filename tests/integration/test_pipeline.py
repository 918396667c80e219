"""A whole sync through ``syncflow_core.pipeline``, against both emulators over loopback
HTTP, on SQLite and on PostgreSQL state."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncflow_core.pipeline import BatchResult, sync_window
from syncflow_core.redrive import redrive
from tests.support.world import World, world


def sync_all(w: World) -> dict[str, BatchResult]:
    return {entity: sync_window(w.env, entity, w.windows()) for entity in w.env.parents_first()}


def test_initial_sync_makes_schedulehub_equal_to_the_source(state_url: str, tmp_path: Path) -> None:
    with world(state_url, tmp_path) as w:
        results = sync_all(w)
        for result in results.values():
            assert result.status == "succeeded", result.error_message
            result.metrics.check_accounting()
            assert result.metrics.rows_fetched > 0
        counts = w.assert_exact()
        assert counts["items"] > 1000
        assert results["items"].metrics.rows_failed > 0  # the generator's bad rows
        assert results["order_lines"].metrics.rows_pending > 0  # children whose parent is late
        before = w.writes()
        again = sync_all(w)
        assert all(r.metrics.rows_fetched == 0 for r in again.values())
        assert w.writes() == before


def test_queues_and_batch_rows_match_the_counts(state_url: str, tmp_path: Path) -> None:
    with world(state_url, tmp_path) as w:
        results = sync_all(w)
        store = w.env.store
        for entity, result in results.items():
            failed = store.failed.find(entity=entity)
            assert failed.height == result.metrics.rows_failed
            assert set(failed["stage_failed"].unique()) <= {"normalize", "validate", "map"}
            assert failed["raw_data"].null_count() == 0
            assert failed["error_message"].str.contains(r" -> ").all()
            assert store.pending.count(entity=entity) == result.metrics.rows_pending
            row = store.batches.get(result.batch_uid)
            assert row.status == "succeeded"
            for name in ("rows_fetched", "rows_inserted", "rows_failed", "rows_pending"):
                assert row.counts[name] == getattr(result.metrics, name), name
        assert (
            store.pending.find(entity="order_lines")["parent_entity"]
            .is_in(["orders", "items"])
            .all()
        )


def applied(w: World, entity: str) -> dict[str, int]:
    stats = w.writes()["entities"][entity]
    return {op: stats[op]["applied"] for op in ("insert", "update", "delete")}


def test_erp_activity_writes_exactly_the_changes(state_url: str, tmp_path: Path) -> None:

    with world(state_url, tmp_path) as w:
        sync_all(w)
        before = applied(w, "items")
        done = w.erp.activity("items", change=40, touch=25, add=12)
        result = sync_window(w.env, "items", w.windows())
        m = result.metrics
        assert m.rows_fetched == done["changed"] + done["touched"] + done["added"]
        after = applied(w, "items")
        assert after["insert"] - before["insert"] == m.rows_inserted
        assert after["update"] - before["update"] == m.rows_updated
        assert after["delete"] == before["delete"]
        assert m.rows_skipped >= done["touched"] - m.rows_failed  # touched: same data, no write
        assert m.rows_inserted + m.rows_failed >= done["added"] - m.rows_pending
        assert 0 < m.rows_updated <= done["changed"]
        redrive(w.env)  # lines that waited for an added item go through now
        w.assert_exact()


def test_reconcile_deletes_what_the_erp_deleted_children_first(
    state_url: str, tmp_path: Path
) -> None:
    from syncflow_core.reconcile import reconcile

    with world(state_url, tmp_path) as w:
        sync_all(w)
        lines_before, centers_before = applied(w, "order_lines"), applied(w, "work_centers")
        lines = w.erp.activity("order_lines", delete=15)
        centers = w.erp.activity("work_centers", delete=2)
        results = [reconcile(w.env, name) for name in w.env.children_first()]
        deleted = {r.entity: r.metrics.rows_deleted for r in results}
        lines_after = applied(w, "order_lines")
        assert deleted["order_lines"] == lines_after["delete"] - lines_before["delete"]
        assert 0 < deleted["order_lines"] <= lines["deleted"]  # a parked line was never sent
        assert deleted["work_centers"] == centers["deleted"]
        assert applied(w, "work_centers")["delete"] - centers_before["delete"] == 2
        assert deleted["items"] == deleted["orders"] == 0
        w.assert_exact()
        quiet = {name: applied(w, name) for name in w.env.parents_first()}
        assert all(reconcile(w.env, n).metrics.rows_deleted == 0 for n in w.env.children_first())
        assert {name: applied(w, name) for name in w.env.parents_first()} == quiet


def test_lost_state_database_creates_no_duplicates(state_url: str, tmp_path: Path) -> None:
    import sqlalchemy as sa

    from syncflow_core.state import metadata

    with world(state_url, tmp_path) as w:
        sync_all(w)
        inserted = applied(w, "items")["insert"]
        with w.env.store.transaction() as conn:  # the state database is lost
            for table in reversed(metadata.sorted_tables):
                conn.execute(sa.delete(table))
        results = sync_all(w)
        assert applied(w, "items")["insert"] == inserted
        assert results["items"].metrics.rows_inserted == 0
        assert results["items"].metrics.rows_updated == 0
        w.assert_exact()


@pytest.mark.parametrize("whole_state", [False, True], ids=["keyed", "whole-state"])
def test_full_rescan_of_an_unchanged_source_writes_nothing(
    state_url: str, tmp_path: Path, whole_state: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import syncflow_core.pipeline as pipeline

    monkeypatch.setattr(pipeline, "WHOLE_STATE_MIN_CHUNK", 1 if whole_state else 10**9)
    with world(state_url, tmp_path) as w:
        sync_all(w)
        before = {name: applied(w, name) for name in w.env.parents_first()}
        for entity in w.env.parents_first():
            result = sync_window(w.env, entity, w.windows(), full_rescan=True)
            m = result.metrics
            assert m.rows_fetched > 0
            assert m.rows_inserted == m.rows_updated == 0
            assert m.rows_skipped + m.rows_failed + m.rows_pending + m.rows_superseded == (
                m.rows_fetched
            )
        assert {name: applied(w, name) for name in w.env.parents_first()} == before


def test_schema_drift_new_column_ignored_removed_column_fails_the_batch(
    state_url: str, tmp_path: Path
) -> None:
    from syncflow_core.drift import SchemaDriftError

    with world(state_url, tmp_path) as w:
        w.erp.drift("items", add=[("COLOR", "VARCHAR2(10)")])
        result = sync_window(w.env, "items", w.windows())
        assert result.status == "succeeded"
        assert result.metrics.rows_inserted > 1000
        before = applied(w, "work_centers")
        w.erp.drift("work_centers", drop=["CAPACITY"])
        with pytest.raises(SchemaDriftError, match=r"work_centers: .*removed: CAPACITY"):
            sync_window(w.env, "work_centers", w.windows())
        failed = w.env.store.batches.recent(entity="work_centers").row(0, named=True)
        assert failed["status"] == "failed"
        assert "CAPACITY" in failed["error_message"]
        assert applied(w, "work_centers") == before  # nothing was written


def test_a_409_for_a_record_of_a_newer_rowversion_keeps_it(state_url: str, tmp_path: Path) -> None:
    """An insert meets a record ScheduleHub holds in a newer version (another run synced
    the row since): adopted as skipped, never overwritten with the older data; the state
    takes ScheduleHub's hash and rowversion."""
    import datetime as dt

    with world(state_url, tmp_path) as w:
        sync_all(w)
        store, hub = w.env.store, w.env.schedulehub
        state = store.sync_state.load("items").sort("erp_key_hash")
        key, uid = state["erp_key_hash"][0], state["uid"][0]
        store.delete_sync_state("items", [key])  # as if this run had not seen it synced
        newer = {"erp_data_hash": "f" * 64, "erp_rowversion": "2099-01-01T00:00:00"}
        assert hub.update("items", uid, newer).status == 200
        updates = applied(w, "items")["update"]
        result = sync_window(w.env, "items", w.windows(), full_rescan=True)
        assert result.metrics.rows_updated == result.metrics.rows_inserted == 0
        assert applied(w, "items")["update"] == updates
        remote = hub.get_by_key("items", key)
        assert remote is not None
        assert remote["erp_data_hash"] == "f" * 64
        row = store.sync_state.load_keys("items", [key]).row(0, named=True)
        assert row["uid"] == uid
        assert row["erp_data_hash"] == "f" * 64
        assert row["erp_rowversion"] == dt.datetime(2099, 1, 1)
