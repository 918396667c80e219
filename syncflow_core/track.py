"""Stage 9: what a chunk leaves behind, committed in one transaction.

- ``erp_sync_state`` from ScheduleHub's answers only (inserted, updated, adopted);
- ``failed_records``: rows that failed a stage (data errors wait for a person or a newer
  ERP version; transient ingest failures are re-driven at 60, 120, 240 s);
- ``pending_children``: orphans of stage 7 and children ScheduleHub refused for a missing
  parent;
- keys that went through leave the queues (older failures resolved, parked rows removed);
- the batch's counters, and the window's watermark once its last chunk is in.

A crash before the commit loses nothing: ScheduleHub's writes are found again by the
next run (a 409 yields the uid), because state is never updated ahead of an answer.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import polars as pl
from sqlalchemy.engine import Connection

from syncflow_core.catalog import EntitySpec, ValueType
from syncflow_core.delta import OP_INSERT
from syncflow_core.identity import parent_key_hash_expr
from syncflow_core.ingest import (
    FAILED,
    INSERTED,
    PENDING,
    RETRYABLE_ERRORS,
    SKIPPED,
    UPDATED,
    encode_bodies,
)
from syncflow_core.metrics import BatchMetrics

if TYPE_CHECKING:
    from syncflow_core.env import SyncEnv
    from syncflow_core.pipeline import Batch
    from syncflow_core.stream import Chunk

log = logging.getLogger(__name__)

STATE_COLUMNS = ("erp_key_hash", "uid", "erp_data_hash", "erp_rowversion")
IDENTITY_COLUMNS = ("erp_key_hash", "erp_data_hash", "erp_rowversion")
#: a re-driven failed record's ``failed_records.id``, carried through stages 6-9
QUEUE_ID = "__queue_id"
ISO_FORMAT = "%Y-%m-%dT%H:%M:%S%.f"

POLARS_TYPES: dict[ValueType, pl.DataType] = {
    ValueType.STRING: pl.String(),
    ValueType.INTEGER: pl.Int64(),
    ValueType.FLOAT: pl.Float64(),
    ValueType.DATETIME: pl.Datetime("us"),
    ValueType.BOOLEAN: pl.Boolean(),
}


def record_fields(spec: EntitySpec) -> list[str]:
    """The fields of a ScheduleHub record: target fields, identity, parent uids."""
    return [*spec.data_fields, *IDENTITY_COLUMNS, *(ref.uid_field for ref in spec.parents)]


def prepared_fields(spec: EntitySpec) -> list[str]:
    """The fields of a prepared record (what a parked child keeps): no parent uids."""
    return [*spec.data_fields, *IDENTITY_COLUMNS]


def prepared_schema(spec: EntitySpec) -> dict[str, pl.DataType]:
    """Column types of a prepared record of ``spec``."""
    schema = {f.target: POLARS_TYPES[f.value_type] for f in spec.fields}
    schema.update(
        erp_key_hash=pl.String(), erp_data_hash=pl.String(), erp_rowversion=pl.Datetime("us")
    )
    return schema


def decode_records(spec: EntitySpec, texts: pl.Series) -> pl.DataFrame:
    """Prepared records back from their JSON text (a parked child, a failed write)."""
    schema = prepared_schema(spec)
    wire = {
        name: pl.String() if dtype == pl.Datetime("us") else dtype for name, dtype in schema.items()
    }
    decoded = texts.str.json_decode(pl.Struct(wire)).struct.unnest()
    return decoded.with_columns(
        pl.col(name).str.to_datetime(ISO_FORMAT, time_unit="us")
        for name, dtype in schema.items()
        if dtype == pl.Datetime("us")
    )


def rebuild_state_if_empty(env: SyncEnv, entity: str, batch_uid: str) -> int | None:
    """If ``entity`` has no sync state, rebuild it from ScheduleHub's ``/index``; returns
    how many records were adopted (``None``: there was state)."""
    if env.store.sync_state.exists(entity):
        return None
    adopted = 0
    for page in env.schedulehub.index(entity):
        if page.height:
            env.store.upsert_sync_state(entity, page.select(STATE_COLUMNS), batch_uid)
            adopted += page.height
    if adopted:
        log.warning(
            "%s: no sync state; rebuilt it from ScheduleHub's index (%d records)", entity, adopted
        )
    return adopted


def commit_chunk(batch: Batch, chunk: Chunk) -> None:
    """Write everything ``chunk`` produced, and count it, in one transaction."""
    spec, store, entity = batch.spec, batch.env.store, batch.entity
    outcomes = chunk.frame
    outcome = pl.col("outcome")
    synced = outcomes.filter(outcome.is_in([INSERTED, UPDATED, SKIPPED]))
    failed_ingest = outcomes.filter(outcome == FAILED)
    parked = _parked(spec, batch.env.catalog, chunk.pending, outcomes.filter(outcome == PENDING))
    data_errors = [f for f in chunk.failed if f.height]

    metrics = chunk.metrics
    metrics.rows_inserted += int((synced["outcome"] == INSERTED).sum())
    metrics.rows_updated += int((synced["outcome"] == UPDATED).sum())
    metrics.rows_skipped += int((synced["outcome"] == SKIPPED).sum())
    metrics.rows_failed += failed_ingest.height
    _count_errors(batch, data_errors, failed_ingest)

    with store.transaction() as conn:
        if synced.height:
            _write_state(batch, synced, conn)
            _settle_queues(batch, synced["erp_key_hash"], conn)
        for frame in data_errors:
            store.failed.add(entity, frame, batch.uid, retry_delay_seconds=None, conn=conn)
        if batch.queue == "failed":
            _book_failed_queue(batch, chunk, failed_ingest, parked, conn)
        else:
            _dead_letter_ingest(batch, failed_ingest, conn)
        if batch.queue == "pending":
            _book_pending_queue(batch, chunk, failed_ingest, parked, conn)
        elif parked.height:
            metrics.rows_pending += parked.height
            store.pending.park(
                entity,
                parked,
                batch.uid,
                check_seconds=batch.env.settings.pending_check_seconds,
                conn=conn,
            )
        store.batches.add_counts(batch.uid, _counts(metrics), conn=conn)
        _advance_watermark(batch, chunk, conn)
        for hook in batch.on_commit:
            hook(chunk, conn)
    if batch.queued is not None:
        keys = [f["erp_key_hash"] for f in (*data_errors, failed_ingest) if f.height]
        failed = pl.concat(keys) if keys else pl.Series("erp_key_hash", [], pl.String)
        batch.queued.add(failed, parked, entity)


def _write_state(batch: Batch, synced: pl.DataFrame, conn: Connection) -> None:
    """State from the answers: brand-new keys appended, the rest upserted."""
    store, entity = batch.env.store, batch.entity
    new = (pl.col("op") == OP_INSERT) & (pl.col("outcome") == INSERTED)
    fresh, known = synced.filter(new), synced.filter(~new)
    if fresh.height:
        store.sync_state.insert_new(entity, fresh.select(STATE_COLUMNS), batch.uid, conn=conn)
    if known.height:
        store.upsert_sync_state(entity, known.select(STATE_COLUMNS), batch.uid, conn=conn)


@dataclass
class QueuedKeys:
    """The keys an entity's queues hold, read once per batch (at its first chunk's commit)
    and kept up to date by the batch's own writes: ``failed`` (open failed records),
    ``parked`` (the entity's parked children) and ``awaited`` (the entity's rows that
    parked children wait for; ``None``: no entity has it as a parent).

    Reading the queues for every chunk cost O(open failures) a chunk: with a source's 3 %
    bad rows, 0.7 s a chunk, 7 s a slice, by the last day of a 7M-row background sync. A
    row another run queues while this batch runs can miss this batch's settling; it then
    stays queued until its own re-drive, which finds it synced and resolves it: the same
    outcome as when that run commits just after this chunk, which no read can prevent.
    """

    failed: pl.Series
    parked: pl.Series
    awaited: pl.Series | None

    @classmethod
    def read(cls, batch: Batch, conn: Connection) -> QueuedKeys:
        store, entity = batch.env.store, batch.entity
        awaited = store.pending.awaited(entity, conn=conn) if _has_children(batch) else None
        return cls(
            failed=store.failed.open_keys(entity, conn=conn),
            parked=store.pending.keys(entity, conn=conn),
            awaited=awaited,
        )

    def add(self, failed: pl.Series, parked: pl.DataFrame, entity: str) -> None:
        """What a chunk of this batch queued (after its commit)."""
        if failed.len():
            self.failed = _union(self.failed, failed.drop_nulls())
        if parked.height:
            self.parked = _union(self.parked, parked["erp_key_hash"])
            if self.awaited is not None:
                waits = pl.col("parent_entity") == entity
                self.awaited = _union(
                    self.awaited, parked.filter(waits)["parent_key_hash"].alias("parent_key_hash")
                )


def _union(held: pl.Series, more: pl.Series) -> pl.Series:
    """``held`` and the keys of ``more`` it lacks, appended (``concat(...).unique()`` hashed
    and copied all of ``held`` again: 65 ms a chunk at 200,000 keys)."""
    more = _semi(more.cast(held.dtype).alias(held.name).unique(), held, "anti")
    return pl.concat([held, more], rechunk=False) if more.len() else held


def _semi(keys: pl.Series, other: pl.Series, how: Literal["semi", "anti"]) -> pl.Series:
    """The ``keys`` that ``other`` has (``semi``) or lacks (``anti``), in their order: a
    hash join, about half the time of ``is_in`` at 100,000 against 200,000 keys."""
    if not keys.len() or not other.len():
        return keys if how == "anti" else keys.head(0)
    probe = other.cast(keys.dtype).rename("k").to_frame()
    return keys.rename("k").to_frame().join(probe, on="k", how=how)["k"].rename(keys.name)


def _settle_queues(batch: Batch, done: pl.Series, conn: Connection) -> None:
    """Keys that went through leave both queues; children waiting for them wake up.

    The queues' keys are intersected with ``done`` here (see :class:`QueuedKeys`), and
    only the matches are written: the cost follows the chunk, never the planner. (Sending
    a chunk's keys as one array to an update was tried: on a dead-letter queue of 150,000
    open records never analyzed, PostgreSQL filtered every open record against the
    100,000-key array, one by one, and a background slice stood still for over twelve
    minutes.)
    """
    store, entity = batch.env.store, batch.entity
    if batch.queued is None:
        batch.queued = QueuedKeys.read(batch, conn)
    queued = batch.queued

    parked = _semi(done, queued.parked, "semi")
    if parked.len():
        store.pending.remove(entity, parked, conn=conn)
        queued.parked = _semi(queued.parked, parked, "anti")
    failed = _semi(done, queued.failed, "semi")
    if failed.len():
        store.failed.resolve_keys(entity, failed, batch_uid=batch.uid, conn=conn)
        queued.failed = _semi(queued.failed, failed, "anti")
    if queued.awaited is not None:
        awaited = _semi(done, queued.awaited, "semi")
        if awaited.len():
            store.pending.wake(entity, awaited, conn=conn)


def _has_children(batch: Batch) -> bool:
    return any(
        ref.entity == batch.entity for spec in batch.env.catalog.values() for ref in spec.parents
    )


def _count_errors(batch: Batch, data_errors: list[pl.DataFrame], failed: pl.DataFrame) -> None:
    for frame in data_errors:
        for stage, kind, n in frame.group_by("stage_failed", "error_type").len().iter_rows():
            batch.errors[(stage, kind)] += n
    for kind, n in failed.group_by("error").len().iter_rows():
        batch.errors[("ingest", str(kind))] += n


def _book_failed_queue(
    batch: Batch, chunk: Chunk, failed: pl.DataFrame, parked: pl.DataFrame, conn: Connection
) -> None:
    """A re-drive of failed records: close the queue rows that went through (or are stale,
    superseded or now parked), record another try of those that failed again."""
    store, delays = batch.env.store, batch.env.settings.failed_retry_delays_seconds
    settled = [
        frame[QUEUE_ID]
        for frame in (chunk.frame.filter(pl.col("outcome") != FAILED), chunk.skipped, chunk.pending)
        if frame is not None and QUEUE_ID in frame.columns
    ]
    if chunk.settled_ids is not None:
        settled.append(chunk.settled_ids)
    ids = pl.concat(settled) if settled else pl.Series(QUEUE_ID, [], pl.Int64)
    if ids.len():
        store.failed.resolve(ids, batch_uid=batch.uid, conn=conn)
    retries = []
    if failed.height:
        retries.append(
            failed.select(
                pl.col(QUEUE_ID).alias("id"),
                pl.coalesce(pl.col("error"), pl.format("http_{}", pl.col("status"))).alias(
                    "error_type"
                ),
                pl.col("message").alias("error_message"),
            )
        )
    if chunk.requeue is not None:
        retries.append(chunk.requeue)
    again = pl.concat(retries, how="diagonal_relaxed") if retries else pl.DataFrame()
    if again.height:
        store.failed.record_retries(again, batch_uid=batch.uid, delays_seconds=delays, conn=conn)
    if parked.height:
        chunk.metrics.rows_pending += parked.height
        store.pending.park(
            batch.entity,
            parked,
            batch.uid,
            check_seconds=batch.env.settings.pending_check_seconds,
            conn=conn,
        )


def _book_pending_queue(
    batch: Batch, chunk: Chunk, failed: pl.DataFrame, parked: pl.DataFrame, conn: Connection
) -> None:
    """A re-drive of parked children: those that still wait stay (a due one counts a try,
    and after the last try goes to the dead letters); failed writes leave for them."""
    store, settings, metrics = batch.env.store, batch.env.settings, chunk.metrics
    waiting = parked["erp_key_hash"]
    _, expired = store.pending.retry_later(
        batch.entity,
        waiting,
        batch.uid,
        check_seconds=settings.pending_check_seconds,
        max_tries=settings.pending_max_tries,
        conn=conn,
    )
    metrics.rows_pending += waiting.len() - expired
    metrics.rows_failed += expired
    if expired:
        batch.errors[("resolve", "parent_missing")] += expired
    if failed.height:
        store.pending.remove(batch.entity, failed["erp_key_hash"], conn=conn)


def _counts(metrics: BatchMetrics) -> dict[str, int]:
    names = (
        "rows_fetched",
        "rows_normalized",
        "rows_validated",
        "rows_mapped",
        "rows_inserted",
        "rows_updated",
        "rows_deleted",
        "rows_skipped",
        "rows_pending",
        "rows_failed",
        "rows_superseded",
    )
    return {name: int(getattr(metrics, name)) for name in names}


def _dead_letter_ingest(batch: Batch, failed: pl.DataFrame, conn: Connection) -> None:
    """Failed writes to ``failed_records``: transient ones re-driven on the schedule,
    refusals (422 …) waiting for a person."""
    if failed.is_empty():
        return
    rows = failed.select(
        pl.lit("ingest").alias("stage_failed"),
        pl.coalesce(pl.col("error"), pl.format("http_{}", pl.col("status"))).alias("error_type"),
        pl.col("message").alias("error_message"),
        pl.col("erp_key_hash"),
        pl.col("erp_rowversion"),
        pl.col("op"),
        pl.col("uid"),
        pl.col("body").alias("mapped_data"),
    )
    retry = pl.col("error_type").is_in(list(RETRYABLE_ERRORS))
    first_delay = batch.env.settings.failed_retry_delays_seconds[0]
    for part, delay in ((rows.filter(retry), first_delay), (rows.filter(~retry), None)):
        if part.height:
            batch.env.store.failed.add(
                batch.entity, part, batch.uid, retry_delay_seconds=delay, conn=conn
            )


def _parked(
    spec: EntitySpec,
    catalog: dict[str, EntitySpec],
    orphans: pl.DataFrame | None,
    refused: pl.DataFrame,
) -> pl.DataFrame:
    """Rows for ``pending_children``: the prepared record and the first missing parent."""
    frames = []
    fields = prepared_fields(spec)
    if orphans is not None and orphans.height:
        frames.append(
            orphans.select(
                "erp_key_hash",
                "erp_rowversion",
                "op",
                "parent_entity",
                "parent_key_hash",
                encode_bodies(orphans, fields).alias("record"),
            )
        )
    if refused.height:
        # ScheduleHub refused a parent uid we believed in (deleted there since): park the
        # child on the parent the answer names.
        by_field = {ref.uid_field: ref for ref in spec.parents}
        first = spec.parents[0] if spec.parents else None
        for uid_field, part in refused.partition_by("field", as_dict=True).items():
            ref = by_field.get(str(uid_field[0])) or first
            if ref is None:
                continue
            frames.append(
                part.select(
                    "erp_key_hash",
                    "erp_rowversion",
                    "op",
                    pl.lit(ref.entity).alias("parent_entity"),
                    parent_key_hash_expr(ref, catalog[ref.entity]).alias("parent_key_hash"),
                    encode_bodies(part, fields).alias("record"),
                )
            )
    if not frames:
        return pl.DataFrame(
            schema={
                "erp_key_hash": pl.String,
                "erp_rowversion": pl.Datetime("us"),
                "op": pl.String,
                "parent_entity": pl.String,
                "parent_key_hash": pl.String,
                "record": pl.String,
            }
        )
    return pl.concat(frames, how="vertical_relaxed")


def _advance_watermark(batch: Batch, chunk: Chunk, conn: Connection) -> None:
    if chunk.window is None:
        return
    key = chunk.window.key
    if chunk.high_rowversion is not None:
        current = batch.high_marks.get(key)
        batch.high_marks[key] = max(filter(None, (current, chunk.high_rowversion)))
    mark = batch.high_marks.get(key)
    if chunk.final and mark is not None and chunk.window.is_day:
        batch.env.store.watermarks.raise_to(
            batch.entity, {chunk.window.start: mark}, batch_uid=batch.uid, conn=conn
        )
