"""The Dagster CLI on the real definitions, against both emulators in processes of their
own: ``dagster asset materialize --partition-range`` as one run, ``dagster job execute``
of every job, and the multiprocess executor with Parquet handoffs."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import polars as pl

from syncflow_core.env import SyncEnv
from tests.e2e.dagster_cli import DAY, CliWorld, cli_world, partition_tags
from tests.support.world import World

DAY2 = DAY.replace(day=DAY.day + 1)
ENTITIES = "items,work_centers,orders,order_lines"


def runs(w: CliWorld) -> list[dg.DagsterRun]:
    with dg.DagsterInstance.from_config(w.environment["DAGSTER_HOME"]) as instance:
        return list(instance.get_runs())


def pending(w: CliWorld) -> int:
    with SyncEnv.from_settings(w.settings()) as env:
        return env.store.pending.count()


def test_a_partition_range_materializes_as_one_run(tmp_path: Path) -> None:
    with cli_world(tmp_path, items=2000, days=2) as w:
        w.dagster(
            "asset", "materialize", "-m", "syncflow_dagster", "--select", ENTITIES,
            "--partition-range", f"{DAY}...{DAY2}",
        )  # fmt: skip
        done = runs(w)
        assert len(done) == 1
        assert done[0].status == dg.DagsterRunStatus.SUCCESS
        counts = w.assert_schedulehub_equals_source()
        assert counts["items"] > 1800


def test_every_job_through_job_execute(tmp_path: Path) -> None:
    extra = {"SYNCFLOW_PENDING_CHECK_SECONDS": "0"}  # parked children are due at once
    with cli_world(tmp_path, items=2000, days=2, extra=extra) as w:
        execute = ["job", "execute", "-m", "syncflow_dagster", "-j"]
        w.dagster(*execute, "sync_all", "--tags", partition_tags(DAY))
        assert pending(w) > 0  # lines of day 1 whose orders come on day 2 (and others)
        w.dagster(*execute, "sync_all", "--tags", partition_tags(DAY2))
        waiting = pending(w)
        w.dagster(*execute, "redrive")
        assert pending(w) < waiting  # their orders are there now
        w.assert_schedulehub_equals_source()

        gone = w.systems.activity("order_lines", delete=20)
        assert gone["deleted"] == 20
        w.dagster(*execute, "reconcile")
        w.assert_schedulehub_equals_source()
        w.dagster(*execute, "sync_items", "--tags", partition_tags(DAY2))
        assert [r.job_name for r in reversed(runs(w))] == [
            "sync_all", "sync_all", "redrive", "reconcile", "sync_items"
        ]  # fmt: skip
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs(w))


def test_multiprocess_runs_hand_parquet_files_over(tmp_path: Path) -> None:
    with cli_world(tmp_path, items=2500, executor="multiprocess") as w:
        done = w.dagster(
            "job", "execute", "-m", "syncflow_dagster", "-j", "sync_items",
            "--tags", partition_tags(DAY),
        )  # fmt: skip
        assert "handed over" in done.stdout + done.stderr
        assert list((tmp_path / "handoff").rglob("*.parquet")) == []  # read and removed
        with SyncEnv.from_settings(w.settings()) as env:
            checker = World(erp=None, hub=None, settings=env.settings, env=env, days=1)  # type: ignore[arg-type]
            want = checker.expected()["items"]
            have = checker.hub_index("items")
            assert want.sort("erp_key_hash").equals(have.select(want.columns).sort("erp_key_hash"))
            batch = env.store.batches.recent("items", limit=1).row(0, named=True)
            assert batch["status"] == "succeeded"
            assert batch["rows_fetched"] == 2500
            assert env.store.leases.held("items") == []  # released by the track process
            assert json.loads(batch["metrics"])["stage_seconds"]["ingest"] > 0
            assert isinstance(want, pl.DataFrame)
