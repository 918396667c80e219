"""The file handoff of a multiprocess run: every chunk field survives Parquet and back at
every stage, and a batch is re-attached in another process with its lease handed over."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from syncflow_core import pipeline, plan
from syncflow_core.lease import LeaseHeldError, holder_name
from syncflow_core.normalize.stages import Staged
from syncflow_core.pipeline import Batch
from syncflow_core.stream import Chunk
from syncflow_core.windows import Window
from syncflow_dagster.handoff import Handoff
from syncflow_dagster.io_managers import HandoffMemoryIOManager
from syncflow_dagster.io_managers.chunk_files import read_chunk, write_chunk
from syncflow_dagster.resume import describe, resume_batch
from syncflow_dagster.stage_ops import MIDDLE_STAGES
from tests.support.ops import hub_writes, state_snapshot
from tests.support.world import START, world


def same(a: Any, b: Any) -> bool:
    if isinstance(a, pl.DataFrame):
        return isinstance(b, pl.DataFrame) and a.equals(b) and a.schema == b.schema
    if isinstance(a, pl.Series):
        return isinstance(b, pl.Series) and a.equals(b) and a.dtype == b.dtype
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, Staged):
        return (
            isinstance(b, Staged)
            and same(a.raw.frame, b.raw.frame)
            and same(a.raw._original, b.raw._original)
            and same(a.remaining(), b.remaining())
            and a.columns == b.columns
            and a.needs == b.needs
            and [p.name for p in a.plans] == [p.name for p in b.plans]
        )
    return bool(a == b)


def assert_round_trip(folder: Path, index: int, chunk: Chunk, spec: Any) -> Chunk:
    back = read_chunk(folder, write_chunk(folder, index, chunk), spec)
    for field in dataclasses.fields(chunk):
        assert same(getattr(chunk, field.name), getattr(back, field.name)), field.name
    return back


def test_every_stage_output_survives_the_files(sqlite_url: str, tmp_path: Path) -> None:
    with world(sqlite_url, tmp_path) as w:
        windows = Window.days(START, START.replace(day=4))
        batch = pipeline.open_batch(w.env, "order_lines", windows)
        chunk = next(iter(pipeline.fetch(batch)))
        folder = tmp_path / "files"
        folder.mkdir()
        seen: dict[str, Chunk] = {}
        for index, (stage, fn) in enumerate([*MIDDLE_STAGES, ("track", pipeline.track)]):
            chunk = assert_round_trip(folder, index, chunk, batch.spec)
            chunk = fn(batch, chunk)  # the next stage works on what came back from disk
            seen[stage] = chunk
        assert seen["validate"].failed
        assert seen["validate"].failed[0].height > 0
        assert seen["resolve"].pending is not None
        assert seen["resolve"].skipped is not None
        assert "outcome" in seen["ingest"].frame.columns
        assert_round_trip(folder, 99, chunk, batch.spec)
        pipeline.finish(batch)


def test_a_batch_is_carried_on_from_its_description(sqlite_url: str, tmp_path: Path) -> None:
    with world(sqlite_url, tmp_path) as w:
        windows = Window.days(START, START.replace(day=4))
        batch = pipeline.open_batch(w.env, "items", windows)
        stream = pipeline.fetch(batch)
        for stage, fn in MIDDLE_STAGES:
            stream = stream.map(stage, lambda c, fn=fn: fn(batch, c))
        chunks = list(stream)
        # the batch as another process left it: its lease held by that process
        assert batch.lease is not None
        keys = batch.lease.keys
        batch.lease.release()
        first = f"{batch.uid}@another-host:4242"
        assert w.env.store.leases.acquire("items", keys, first, ttl_seconds=600)
        descriptor = describe(batch)
        descriptor["lease"]["holder"] = first

        resumed = resume_batch(w.env, descriptor)
        assert resumed.lease is not None
        assert resumed.lease.holder == holder_name(batch.uid) != first
        held = {x.lease_key: x.holder for x in w.env.store.leases.held("items")}
        assert held == dict.fromkeys(keys, resumed.lease.holder)
        assert resumed.seconds == batch.seconds
        assert resumed.state_ready
        assert resumed.windows == batch.windows
        assert resumed.uid == batch.uid
        for chunk in chunks:
            pipeline.track(resumed, chunk)
        result = pipeline.finish(resumed)
        assert result.status == "succeeded"
        assert result.metrics.rows_fetched == w.source("items").rows_in
        assert w.env.store.leases.held("items") == []


def test_a_lease_that_moved_on_is_not_taken(sqlite_url: str, tmp_path: Path) -> None:
    with world(sqlite_url, tmp_path) as w:
        batch: Batch = pipeline.open_batch(w.env, "items", [Window.day(START)])
        descriptor = describe(batch)
        pipeline.finish(batch)  # released: someone else may hold it now
        w.env.store.leases.acquire("items", [START.isoformat()], "other@x:1", ttl_seconds=600)
        with pytest.raises(LeaseHeldError):
            resume_batch(w.env, descriptor)
        held = w.env.store.leases.held("items")
        assert [x.holder for x in held] == ["other@x:1"]


def test_a_run_that_stops_early_fails_its_open_batches(sqlite_url: str, tmp_path: Path) -> None:
    with world(sqlite_url, tmp_path) as w:
        batch = pipeline.open_batch(w.env, "items", [Window.day(START)])
        io = HandoffMemoryIOManager()
        context = dg.build_output_context(step_key="items.items_fetch", name="result", run_id="r1")
        io.handle_output(context, Handoff(batch, pipeline.fetch(batch)))
        assert io.pending() == 1
        io.teardown_after_execution(dg.build_init_resource_context())
        assert io.pending() == 0
        row = w.env.store.batches.get(batch.uid)
        assert row.status == "failed"
        assert "the run ended first" in str(row.error_message)
        assert w.env.store.leases.held("items") == []


def test_a_dry_run_stays_one_from_process_to_process(sqlite_url: str, tmp_path: Path) -> None:
    with world(sqlite_url, tmp_path) as w:
        w.erp.drift("items", add=[("COLOR", "VARCHAR2(10)")])
        windows = Window.days(START, START.replace(day=4))
        expected = plan.plan_sync(w.env, "items", windows)
        before_state, before_hub = state_snapshot(w.env.store), hub_writes(w.writes())
        folder = tmp_path / "files"
        folder.mkdir()

        batch = plan.dry_batch(w.env, "items", windows)
        chunks = list(pipeline.fetch(batch))  # the fetch op's process
        for stage, fn in [*MIDDLE_STAGES, ("track", pipeline.track)]:
            batch = resume_batch(w.env, describe(batch))  # each op in a process of its own
            assert batch.dry_run is not None, stage
            assert batch.drift is not None
            assert batch.drift.added == ("COLOR",)
            chunks = [
                fn(batch, read_chunk(folder, write_chunk(folder, i, c), batch.spec))
                for i, c in enumerate(chunks)
            ]
        done = plan.collect(batch, chunks)
        assert done.counts == expected.counts
        assert done.counts["inserted"] > 1000
        assert done.new_source_columns == ("COLOR",)
        assert pipeline.finish(batch).schema_changes == {"schema_added_columns": "COLOR"}
        assert state_snapshot(w.env.store) == before_state
        assert hub_writes(w.writes()) == before_hub
