"""Re-drive: failed records that are due, and parked children whose parent may be there.

A re-drive batch takes rows out of one of the two queues and sends them through stages
6-9 again (a failed record of a data error goes through stages 2-5 first, with today's
catalog). Its track stage books outcomes against the queue rows themselves:

- a failed record that goes through, or turns out stale, is resolved; one that fails
  again has its retry recorded (60, 120, 240 s, then ``dead``);
- a parked child whose parent is now known is sent and leaves the queue; a due one still
  without its parent waits longer (5, 10, 20, 40 min), and after the fifth try is
  dead-lettered as ``parent_missing``.

A row older than what the state already holds for its key is skipped in stage 6: a newer
version went through since, and sending the old one would undo it.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import orjson
import polars as pl

from syncflow_core import ingest as ingest_stage
from syncflow_core.delta import OP_DELETE
from syncflow_core.env import SyncEnv
from syncflow_core.normalize import prepare
from syncflow_core.normalize import stages as norm
from syncflow_core.pipeline import (
    Batch,
    BatchResult,
    apply_stage,
    drain,
    finish,
    open_batch,
    parent_lookup,
)
from syncflow_core.resolve import resolve_parents
from syncflow_core.state.clock import utcnow
from syncflow_core.stream import Chunk, ChunkStream
from syncflow_core.track import QUEUE_ID, decode_records

log = logging.getLogger(__name__)

DATA_STAGES = ("normalize", "validate", "map")


@dataclass(frozen=True)
class Due:
    """How much waits in the two queues (what the re-drive sensor looks at)."""

    failed: int
    pending: int

    @property
    def any(self) -> bool:
        return bool(self.failed or self.pending)


def due(env: SyncEnv, now: dt.datetime | None = None) -> Due:
    """Failed records and parked children due at ``now``."""
    now = now or utcnow()
    return Due(env.store.failed.due(now=now).height, env.store.pending.due(now=now).height)


def redrive(
    env: SyncEnv, *, now: dt.datetime | None = None, dagster_run_id: str | None = None
) -> list[BatchResult]:
    """Re-drive both queues of every entity, parents first; one batch per entity and queue."""
    now = now or utcnow()
    results = []
    for entity in env.parents_first():
        for run in (redrive_failed, redrive_pending):
            result = run(env, entity, now=now, dagster_run_id=dagster_run_id)
            if result is not None:
                results.append(result)
    return results


def redrive_failed(
    env: SyncEnv,
    entity: str,
    *,
    now: dt.datetime,
    dagster_run_id: str | None = None,
    ids: Collection[int] | None = None,
) -> BatchResult | None:
    """Send ``entity``'s due failed records again (only those of ``ids`` if given: a retry
    a person asked for); ``None`` when none is due."""
    queue = env.store.failed.due(now=now, entity=entity)
    if ids is not None:
        queue = queue.filter(pl.col("id").is_in(list(ids)))
    if queue.is_empty():
        return None
    batch = open_batch(
        env, entity, [], kind="redrive", lease_keys=["redrive"], dagster_run_id=dagster_run_id
    )
    batch.queue = "failed"
    is_delete = (pl.col("op") == OP_DELETE).fill_null(False)
    chunk = Chunk(window=None, seq=0, final=True, frame=pl.DataFrame())
    chunk.metrics.rows_fetched = queue.height
    records = queue.filter(~is_delete)
    try:
        _redrive_deletes(batch, queue.filter(is_delete))
        if records.is_empty():
            batch.metrics.add(chunk.metrics)
            return finish(batch)
        chunk.frame = _records_from_failed(batch, chunk, records)
    except BaseException as exc:
        finish(batch, error=exc)
        raise
    return drain(batch, _resend(batch, [chunk]))


def _redrive_deletes(batch: Batch, rows: pl.DataFrame) -> None:
    """Failed deletes (a parent that still had children, a lost answer) are deleted again
    by uid, not re-sent as records: they have none."""
    if rows.is_empty():
        return
    env, entity = batch.env, batch.entity
    ops = rows.select(
        "erp_key_hash",
        "uid",
        pl.col("id").alias(QUEUE_ID),
        op=pl.lit(OP_DELETE),
        body=pl.lit(None, pl.String),
        erp_data_hash=pl.lit(None, pl.String),
        erp_rowversion=pl.lit(None, pl.Datetime("us")),
    )
    outcomes = ingest_stage.ingest(env.schedulehub, entity, ops)
    deleted = outcomes.filter(pl.col("outcome") == ingest_stage.DELETED)
    failed = outcomes.filter(pl.col("outcome") != ingest_stage.DELETED)
    with env.store.transaction() as conn:
        if deleted.height:
            env.store.delete_sync_state(entity, deleted["erp_key_hash"], conn=conn)
            env.store.failed.resolve(deleted[QUEUE_ID], batch_uid=batch.uid, conn=conn)
        if failed.height:
            env.store.failed.record_retries(
                failed.select(
                    pl.col(QUEUE_ID).alias("id"),
                    pl.coalesce(pl.col("error"), pl.lit("delete_refused")).alias("error_type"),
                    pl.col("message").alias("error_message"),
                ),
                batch_uid=batch.uid,
                delays_seconds=env.settings.failed_retry_delays_seconds,
                conn=conn,
            )
    batch.metrics.rows_deleted += deleted.height
    batch.metrics.rows_failed += failed.height


def _records_from_failed(batch: Batch, chunk: Chunk, queue: pl.DataFrame) -> pl.DataFrame:
    """The queue's rows as prepared records with their queue id; rows that still fail
    stages 2-5 are kept on the chunk for track to record a retry."""
    spec = batch.spec
    is_data = pl.col("stage_failed").is_in(DATA_STAGES)
    data, sent = queue.filter(is_data), queue.filter(~is_data)
    frames = []
    if data.height:
        rows = [orjson.loads(text) for text in data["raw_data"].fill_null("{}")]
        prepared = prepare(spec, rows, keep_row=True)
        data_ids = data["id"]
        frames.append(
            prepared.records.with_columns(
                data_ids.gather(prepared.records[norm.ROW]).alias(QUEUE_ID)
            ).drop(norm.ROW)
        )
        again = prepared.failed.with_columns(data_ids.gather(prepared.failed[norm.ROW]).alias("id"))
        chunk.requeue = again.select("id", "stage_failed", "error_type", "field", "error_message")
        chunk.metrics.rows_failed += again.height
        chunk.metrics.rows_superseded += prepared.superseded
        kept = pl.concat([prepared.records[norm.ROW], prepared.failed[norm.ROW]])
        chunk.settled_ids = data_ids.filter(
            ~pl.int_range(data.height, eager=True).is_in(kept.implode())
        )
    if sent.height:
        frames.append(
            decode_records(spec, sent["mapped_data"].fill_null("{}")).with_columns(
                sent["id"].alias(QUEUE_ID)
            )
        )
    return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()


def redrive_pending(
    env: SyncEnv, entity: str, *, now: dt.datetime, dagster_run_id: str | None = None
) -> BatchResult | None:
    """Send ``entity``'s parked children that are due or whose parents are all known now;
    ``None`` when there are none."""
    spec = env.spec(entity)
    parked = env.store.pending.find(entity=entity)
    if not spec.parents or parked.is_empty():
        return None
    records = decode_records(spec, parked["record"])
    is_due = (parked["next_retry_at"] <= now).fill_null(True)
    resolvable, _ = resolve_parents(spec, env.catalog, records, parent_lookup(env))
    chosen = records.filter(
        is_due | records["erp_key_hash"].is_in(resolvable["erp_key_hash"].implode())
    )
    if chosen.is_empty():
        return None
    batch = open_batch(
        env, entity, [], kind="redrive", lease_keys=["redrive"], dagster_run_id=dagster_run_id
    )
    batch.queue = "pending"
    chunk = Chunk(window=None, seq=0, final=True, frame=chosen)
    chunk.metrics.rows_fetched = chosen.height
    return drain(batch, _resend(batch, [chunk]))


def _resend(batch: Batch, chunks: Iterable[Chunk]) -> ChunkStream[Chunk]:
    """Stages 6-9 over prepared chunks."""
    stream: ChunkStream[Chunk] = ChunkStream(batch.entity, iter(chunks), batch.seconds)
    for name in ("delta", "resolve", "ingest", "track"):
        stream = apply_stage(batch, stream, name)
    return stream
