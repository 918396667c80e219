"""Leases, faults, parked children and the dead-letter queue through the core pipeline."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from syncflow_core.lease import LeaseHeldError, holder_name
from syncflow_core.pipeline import open_batch, sync_window
from syncflow_core.redrive import redrive
from syncflow_core.state.clock import utcnow
from syncflow_core.track import QueuedKeys
from tests.support.world import SMALL, World, world


def sync_all(w: World) -> None:
    for entity in w.env.parents_first():
        sync_window(w.env, entity, w.windows())


def later(hours: float = 6) -> dt.datetime:
    return utcnow() + dt.timedelta(hours=hours)


def test_two_batches_on_one_window_cannot_both_run(state_url: str, tmp_path: Path) -> None:
    with world(state_url, tmp_path) as w:
        windows = w.windows()
        first = open_batch(w.env, "items", windows[:2])
        with pytest.raises(LeaseHeldError, match=r"items \[2025-01-02\] is being synced"):
            open_batch(w.env, "items", windows[1:3])
        refused = w.env.store.batches.recent(entity="items").row(0, named=True)
        assert refused["status"] == "failed"
        assert "being synced by another run" in refused["error_message"]
        other = open_batch(w.env, "items", windows[2:3])  # a different day is free
        other.lease.release()  # type: ignore[union-attr]
        first.lease.release()  # type: ignore[union-attr]
        open_batch(w.env, "items", windows[1:3]).lease.release()  # type: ignore[union-attr]


def test_lease_of_a_killed_process_is_taken_over(state_url: str, tmp_path: Path) -> None:
    with world(state_url, tmp_path) as w:
        dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)  # fmt: skip
        holder = holder_name("0000-dead-batch").rsplit(":", 1)[0] + ":" + dead.stdout.strip()
        assert w.env.store.leases.acquire("items", ["2025-01-01"], holder, ttl_seconds=3600)
        batch = open_batch(w.env, "items", w.windows()[:1])
        assert batch.lease is not None
        assert [x.holder for x in w.env.store.leases.held("items")] == [batch.lease.holder]
        batch.lease.release()


def test_orphans_wait_and_go_through_once_the_parent_arrives(
    state_url: str, tmp_path: Path
) -> None:
    with world(state_url, tmp_path) as w:
        sync_all(w)
        parked = w.env.store.pending.find(entity="order_lines")
        assert parked.height > 0
        waiting_for_orders = parked.filter(parked["parent_entity"] == "orders").height
        assert waiting_for_orders > 0
        # nothing arrives: a re-drive before the check is due changes nothing
        assert redrive(w.env) == []
        # the late orders arrive in the ERP (adding orders creates the referenced ones)
        w.erp.activity("orders", add=150)
        sync_window(w.env, "orders", w.windows())
        woken = w.env.store.pending.due(entity="order_lines")  # what the sensor will see
        assert 0 < woken.height < parked.height
        results = [r for r in redrive(w.env) if r.entity == "order_lines"]
        assert results, "the parked lines were not re-driven"
        sent = results[0].metrics
        sent.check_accounting()
        assert sent.rows_inserted == woken.height
        assert sent.rows_pending == 0  # only children whose parents are all known were taken
        still = w.env.store.pending.count(entity="order_lines")
        assert still == parked.height - sent.rows_inserted - sent.rows_failed
        w.assert_exact()


def test_parked_child_gives_up_after_five_tries_as_parent_missing(
    state_url: str, tmp_path: Path
) -> None:
    with world(state_url, tmp_path) as w:
        sync_all(w)
        parked = w.env.store.pending.count(entity="order_lines")
        now = utcnow()
        for attempt in range(1, 6):
            now += dt.timedelta(days=1)  # always past the next check
            results = [r for r in redrive(w.env, now=now) if r.entity == "order_lines"]
            assert results, f"try {attempt} did not happen"
        assert w.env.store.pending.count(entity="order_lines") == 0
        dead = w.env.store.failed.find(entity="order_lines")
        dead = dead.filter(dead["error_type"] == "parent_missing")
        assert dead.height == parked
        assert (dead["status"] == "dead").all()
        assert (dead["stage_failed"] == "resolve").all()


def test_schedulehub_faults_then_redrive_end_exact(state_url: str, tmp_path: Path) -> None:
    with world(state_url, tmp_path) as w:
        w.hub.set_faults(
            error_rate=0.05, lost_answer_rate=0.05, rate_limit_rate=0.05, retry_after_seconds=0,
            latency_ms=2, seed=7,
        )  # fmt: skip
        sync_all(w)
        w.hub.set_faults(error_rate=0.0, lost_answer_rate=0.0, rate_limit_rate=0.0, latency_ms=0)
        for hours in (1, 2, 4, 8):  # what the sensor would launch as records come due
            redrive(w.env, now=later(hours))
        counts = w.assert_exact()
        assert counts["items"] > 1000
        open_failures = w.env.store.failed.find(entity="items")
        assert (
            open_failures.filter(open_failures["status"] == "open")["stage_failed"] != "ingest"
        ).all()


def test_apismith_faults_mid_scan_fetch_every_row_once(state_url: str, tmp_path: Path) -> None:
    with world(state_url, tmp_path) as w:
        w.erp.set_faults(error_rate=0.05, rate_limit_rate=0.05, retry_after_seconds=0, seed=3)
        sync_all(w)
        w.erp.set_faults(error_rate=0.0, rate_limit_rate=0.0)
        redrive(w.env, now=later())
        w.assert_exact()


def test_a_delete_that_failed_is_redriven_as_a_delete(state_url: str, tmp_path: Path) -> None:
    from syncflow_core.reconcile import reconcile

    with world(state_url, tmp_path, settings={"http_max_attempts": 2}) as w:
        sync_all(w)
        w.erp.activity("work_centers", delete=3)
        w.hub.set_faults(error_rate=1.0, seed=5)  # every delete's answer is a 5xx
        refused = reconcile(w.env, "work_centers", repair=False).metrics
        w.hub.set_faults(error_rate=0.0)
        assert (refused.rows_fetched, refused.rows_deleted, refused.rows_failed) == (3, 0, 3)
        queued = w.env.store.failed.find(entity="work_centers")
        assert queued["op"].to_list() == ["delete"] * 3
        assert set(queued["error_type"]) == {"transient"}
        results = [r for r in redrive(w.env, now=later()) if r.entity == "work_centers"]
        assert len(results) == 1
        assert (results[0].metrics.rows_deleted, results[0].metrics.rows_failed) == (3, 0)
        assert (w.env.store.failed.find(entity="work_centers")["status"] == "resolved").all()
        w.assert_exact()


def test_a_batch_reads_the_queues_once_and_settles_every_chunks_keys(
    state_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Open failures of keys spread over the whole source, then a batch of several chunks:
    # each key is resolved by the chunk that syncs it, and the open keys are read once
    # for the batch (a read per chunk cost O(open failures) a chunk on large tables).
    sizes = {**SMALL, "items": 3500}
    with world(state_url, tmp_path, sizes=sizes) as w:  # chunks of 1000 rows
        keys = w.source("items").records["erp_key_hash"].gather_every(70)
        store = w.env.store
        old = pl.DataFrame({"erp_key_hash": keys}).with_columns(
            stage_failed=pl.lit("ingest"), error_type=pl.lit("http_503")
        )
        store.failed.add("items", old, "an-earlier-batch")
        reads: list[str] = []
        read_open_keys = store.failed.open_keys

        def counted(entity: str, **kwargs: Any) -> pl.Series:  # the real read, counted
            reads.append(entity)
            return read_open_keys(entity, **kwargs)

        monkeypatch.setattr(store.failed, "open_keys", counted)
        result = sync_window(w.env, "items", w.windows())
        assert result.status == "succeeded"
        assert result.metrics.rows_fetched > 3 * 1000  # four chunks
        still_open = store.failed.find(entity="items", status="open")["erp_key_hash"]
        assert keys.len() > 40
        assert not keys.is_in(still_open.implode()).any()
        assert store.failed.find(batch_uid="an-earlier-batch")["status"].unique().to_list() == [
            "resolved"
        ]
        assert reads == ["items"]


def test_queued_keys_take_in_what_the_batch_itself_queues() -> None:
    empty = pl.Series("erp_key_hash", [], pl.String)
    queued = QueuedKeys(failed=empty, parked=empty, awaited=empty.alias("parent_key_hash"))
    parked = pl.DataFrame(
        {
            "erp_key_hash": ["c1", "c2"],
            "parent_entity": ["orders", "items"],
            "parent_key_hash": ["o1", "i1"],
        }
    )
    queued.add(pl.Series("erp_key_hash", ["k1", None, "k1"]), parked, "items")
    queued.add(pl.Series("erp_key_hash", ["k2"]), parked.head(0), "items")
    assert sorted(queued.failed.to_list()) == ["k1", "k2"]
    assert sorted(queued.parked.to_list()) == ["c1", "c2"]
    assert queued.awaited is not None
    assert queued.awaited.to_list() == ["i1"]  # only children waiting for an items row
