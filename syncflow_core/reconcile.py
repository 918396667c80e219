"""Reconciliation: deletes, and repairs of what changed in ScheduleHub behind our back.

Deletes cannot be seen in a rowversion window, so a reconciliation compares a key-only
scan of the whole source (``fields=`` the key columns) with ``erp_sync_state``; a key
that is gone from the ERP is deleted in ScheduleHub, behind a guard against mass deletion.

It also compares ScheduleHub's ``/index`` with the state. A record deleted or changed
there is marked for repair and the day its ERP row lives in is synced again, with that
day's watermark lowered just below the row, so the next sync writes it back. A record
ScheduleHub has but the state lacks is adopted (its uid learned), then judged like any
other key.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import polars as pl

from syncflow_core import drift as schema_drift
from syncflow_core import ingest as ingest_stage
from syncflow_core.catalog import EntitySpec
from syncflow_core.delta import OP_DELETE, plan_deletes
from syncflow_core.env import SyncEnv
from syncflow_core.normalize import prepare
from syncflow_core.pipeline import Batch, BatchResult, ensure_state, finish, open_batch, sync_window
from syncflow_core.state.clock import utcnow
from syncflow_core.track import STATE_COLUMNS
from syncflow_core.windows import Window

log = logging.getLogger(__name__)

#: the data hash of a state row marked for repair: never a real BLAKE3 hex
DIRTY_HASH = "0" * 64
ONE_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class Repairs:
    """What the comparison of ScheduleHub's index with the state found."""

    missing: int
    changed: int
    adopted: int
    days: tuple[dt.date, ...]


def reconcile(
    env: SyncEnv,
    entity: str,
    *,
    force: bool = False,
    repair: bool = True,
    dagster_run_id: str | None = None,
) -> BatchResult:
    """Reconcile ``entity``: repair ScheduleHub, then delete what the ERP no longer has.

    Raises :class:`~syncflow_core.delta.MassDeleteRefusedError` (the batch failed, nothing
    deleted) when the deletes exceed ``delete_guard_share`` of the entity and not ``force``.
    """
    batch = open_batch(
        env, entity, [], kind="reconcile", lease_keys=["reconcile"], dagster_run_id=dagster_run_id
    )
    try:
        ensure_state(batch)
        repairs = repair_from_index(batch) if repair else Repairs(0, 0, 0, ())
        scan_started = utcnow()
        source = source_key_hashes(env, batch.spec)
        state = env.store.load_sync_state(entity)
        gone = plan_deletes(
            entity,
            source,
            state,
            protected=env.store.sync_state.synced_since(entity, scan_started),
            guard_share=env.settings.delete_guard_share,
            force=force,
        )
        _delete(batch, gone)
    except BaseException as exc:
        finish(batch, error=exc)
        raise
    result = finish(batch)
    if repairs.days:
        log.info(
            "%s: repairing %d missing and %d changed records over %d day(s)",
            entity,
            repairs.missing,
            repairs.changed,
            len(repairs.days),
        )
        sync_window(env, entity, [Window.day(day) for day in repairs.days])
    return result


def source_key_hashes(env: SyncEnv, spec: EntitySpec) -> pl.Series:
    """The business-key hash of every row APISmith has now (a key-only scan)."""
    schema_drift.check(spec, env.apismith.schema(spec.name))
    keys_only = key_spec(spec)
    hashes = [
        prepare(keys_only, frame).records["erp_key_hash"]
        for frame in env.apismith.frames(spec.name, fields=list(spec.key_source_columns))
    ]
    return pl.concat(hashes) if hashes else pl.Series("erp_key_hash", [], pl.String)


def key_spec(spec: EntitySpec) -> EntitySpec:
    """``spec`` reduced to its key fields: what a key-only scan can be normalized with."""
    return spec.model_copy(update={"fields": tuple(f for f in spec.fields if f.target in spec.key)})


def repair_from_index(batch: Batch) -> Repairs:
    """Compare ScheduleHub's index with the state; mark what differs for the next sync."""
    env, entity = batch.env, batch.entity
    index = pl.concat(list(env.schedulehub.index(entity)), how="vertical_relaxed")
    state = env.store.load_sync_state(entity)
    joined = state.join(index, on="erp_key_hash", how="full", suffix="_hub", coalesce=True)
    missing = joined.filter(pl.col("uid_hub").is_null() & pl.col("uid").is_not_null())
    changed = joined.filter(
        pl.col("uid").is_not_null()
        & pl.col("uid_hub").is_not_null()
        & (
            (pl.col("erp_data_hash_hub") != pl.col("erp_data_hash"))
            | (pl.col("uid_hub") != pl.col("uid"))
        )
    )
    unknown = joined.filter(pl.col("uid").is_null())
    with env.store.transaction() as conn:
        if unknown.height:
            adopted = unknown.select(
                "erp_key_hash",
                pl.col("uid_hub").alias("uid"),
                pl.col("erp_data_hash_hub").alias("erp_data_hash"),
                pl.col("erp_rowversion_hub").alias("erp_rowversion"),
            )
            env.store.upsert_sync_state(entity, adopted, batch.uid, conn=conn)
        if missing.height:
            env.store.delete_sync_state(entity, missing["erp_key_hash"], conn=conn)
        if changed.height:
            dirty = changed.select(
                "erp_key_hash",
                pl.col("uid_hub").alias("uid"),
                pl.lit(DIRTY_HASH).alias("erp_data_hash"),
                "erp_rowversion",
            ).select(STATE_COLUMNS)
            env.store.upsert_sync_state(entity, dirty, batch.uid, conn=conn)
        lows = (
            pl.concat([missing.select("erp_rowversion"), changed.select("erp_rowversion")])
            .drop_nulls()
            .group_by(pl.col("erp_rowversion").dt.truncate("1d").alias("day"))
            .agg(pl.col("erp_rowversion").min().alias("low"))
        )
        marks = {day: low - ONE_MICROSECOND for day, low in lows.iter_rows()}
        if marks:
            env.store.watermarks.lower_to(entity, marks, conn=conn)
    if missing.height or changed.height or unknown.height:
        log.warning(
            "%s: ScheduleHub differs from the state: %d missing, %d changed, %d adopted",
            entity,
            missing.height,
            changed.height,
            unknown.height,
        )
    days = tuple(sorted(day.date() for day in marks))
    return Repairs(missing.height, changed.height, unknown.height, days)


def _delete(batch: Batch, gone: pl.DataFrame) -> None:
    """Delete ``gone`` (erp_key_hash, uid) in ScheduleHub, then in the state."""
    if gone.is_empty():
        return
    env, entity = batch.env, batch.entity
    ops = gone.with_columns(
        op=pl.lit(OP_DELETE),
        body=pl.lit(None, pl.String),
        erp_data_hash=pl.lit(None, pl.String),
        erp_rowversion=pl.lit(None, pl.Datetime("us")),
    )
    outcomes = ingest_stage.ingest(env.schedulehub, entity, ops)
    deleted = outcomes.filter(pl.col("outcome") == ingest_stage.DELETED)
    failed = outcomes.filter(pl.col("outcome") != ingest_stage.DELETED)
    with env.store.transaction() as conn:
        env.store.delete_sync_state(entity, deleted["erp_key_hash"], conn=conn)
        if failed.height:
            rows = failed.select(
                pl.lit("ingest").alias("stage_failed"),
                pl.coalesce(pl.col("error"), pl.lit("delete_refused")).alias("error_type"),
                pl.col("message").alias("error_message"),
                "erp_key_hash",
                "op",
                "uid",
            )
            env.store.failed.add(
                entity,
                rows,
                batch.uid,
                retry_delay_seconds=env.settings.failed_retry_delays_seconds[0],
                conn=conn,
            )
    batch.metrics.rows_fetched += gone.height  # what enters a reconciliation: its deletions
    batch.metrics.rows_deleted += deleted.height
    batch.metrics.rows_failed += failed.height
    for kind, n in failed.group_by("error").len().iter_rows():
        batch.errors[("ingest", str(kind))] += n
