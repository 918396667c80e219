"""Background sync of a very large entity: a plan of daily slices, each in bounded memory.

A plan cuts the table into ROWVERSION windows of about ``rows_per_day`` rows (one slice a
day) from a key-and-rowversion-only scan of APISmith, and each slice into chunks of about
``chunk_rows`` rows. A slice runs its chunks in order through the nine stages; each
chunk's state and the slice's progress are committed together, so after a crash the slice
resumes at its first uncommitted chunk. Every slice is independent and idempotent: a
re-run of a done slice does nothing, a re-run of a failed one picks up where it stopped.

Rows changed after planning carry a new ROWVERSION (now), outside every planned window:
the regular incremental sync takes them. A slice holds the lease of the days its window
overlaps, so it never runs at the same time as a regular sync of those days.

A plan made while the entity had no sync state, no ScheduleHub record and no lease in
force is *fresh*. The windows of its slices are disjoint, so while no batch outside the
plan has started since it was made, the keys of a slice cannot be in the state: the
slice's delta skips the state lookups, as a first load does (they cost more and more as
the state grows: a probe per key into a B-tree of millions). Should a key be there after
all, ScheduleHub answers the insert with 409 and the row is adopted (skipped, or updated
if its data differs), so the result is the same either way; only the speed differs.

>>> plan = plan_background(env, "items")                 # doctest: +SKIP
>>> run_slice(env, "items", 0)                            # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
from dataclasses import dataclass

import orjson
import polars as pl
from sqlalchemy.engine import Connection

from syncflow_core.env import SyncEnv
from syncflow_core.normalize import prepare
from syncflow_core.pipeline import BatchResult, drain, open_batch, stages
from syncflow_core.reconcile import key_spec
from syncflow_core.state.clock import utcnow
from syncflow_core.state.repositories.schedule import Slice
from syncflow_core.state.sizing import CacheFit, cache_fit
from syncflow_core.stream import Chunk
from syncflow_core.windows import ONE_DAY, Window

log = logging.getLogger(__name__)

ONE_MICROSECOND = dt.timedelta(microseconds=1)


@dataclass(frozen=True)
class PlanSummary:
    """A stored plan: its id and slices (``slice_no``, bounds, ``planned_rows``), and how
    the state's primary key will compare with the state server's buffers once the plan's
    keys are in (``None`` on SQLite)."""

    plan_id: str
    entity: str
    rows: int
    slices: pl.DataFrame
    cache_fit: CacheFit | None = None


def scan_rowversions(env: SyncEnv, entity: str) -> pl.Series:
    """Every row's ROWVERSION (naive UTC), sorted: a key-and-rowversion-only scan."""
    spec = env.spec(entity)
    keys_only = key_spec(spec)
    parts = []
    for frame in env.apismith.frames(entity, fields=list(spec.key_source_columns)):
        prepared = prepare(keys_only, frame)
        parts += [prepared.records["erp_rowversion"], prepared.failed["erp_rowversion"]]
    if not parts:
        return pl.Series("erp_rowversion", [], pl.Datetime("us"))
    return pl.concat(parts).drop_nulls().sort()


def cut(rowversions: pl.Series, rows: int) -> list[dt.datetime]:
    """Boundaries that cut sorted ``rowversions`` into runs of about ``rows`` rows:
    ``[lo, b1, …, hi)``. A boundary never splits equal rowversions: it moves on to the
    next distinct value."""
    if rowversions.is_empty():
        return []
    bounds = [rowversions[0]]
    start = 0
    while start + rows < rowversions.len():
        boundary = rowversions[start + rows]
        if boundary == bounds[-1]:
            start = int(rowversions.search_sorted(boundary, side="right"))
            if start >= rowversions.len():
                break
            boundary = rowversions[start]
        else:
            start = int(rowversions.search_sorted(boundary, side="left"))
        bounds.append(boundary)
    bounds.append(rowversions[-1] + ONE_MICROSECOND)
    return bounds


def plan_background(
    env: SyncEnv,
    entity: str,
    *,
    rows_per_day: int | None = None,
    chunk_rows: int | None = None,
) -> PlanSummary:
    """Scan ``entity`` and store a plan of daily slices; returns it."""
    settings = env.settings
    per_day = rows_per_day or settings.rows_per_day
    per_chunk = chunk_rows or settings.background_chunk_rows
    began = utcnow()  # a batch started after this is not the plan's: see ``keys_new``
    rowversions = scan_rowversions(env, entity)
    bounds = cut(rowversions, per_day)
    slices = []
    for lo, hi in itertools.pairwise(bounds):
        inside = rowversions.filter((rowversions >= lo) & (rowversions < hi))
        chunks = cut(inside, per_chunk) or [lo, hi]
        chunks[0], chunks[-1] = lo, hi
        slices.append(
            {
                "rowversion_lo": lo,
                "rowversion_hi": hi,
                "planned_rows": inside.len(),
                "chunk_bounds": orjson.dumps([b.isoformat() for b in chunks]).decode(),
            }
        )
    frame = pl.DataFrame(
        slices,
        schema={
            "rowversion_lo": pl.Datetime("us"),
            "rowversion_hi": pl.Datetime("us"),
            "planned_rows": pl.Int64,
            "chunk_bounds": pl.String,
        },
    )
    fresh = is_fresh(env, entity)
    plan_id = env.store.schedule.create_plan(entity, frame, fresh=fresh, now=began)
    log.info(
        "%s: background plan %s: %d rows in %d slices%s",
        entity,
        plan_id,
        rowversions.len(),
        len(slices),
        " (fresh: the slices skip the state lookups)" if fresh else "",
    )
    added = rowversions.len() - (0 if fresh else env.store.sync_state.count(entity))
    fit = cache_fit(env.store.engine, added)
    if fit is not None and fit.advice:
        log.warning("%s: %s", entity, fit.advice)
    slices_stored = env.store.schedule.plan(plan_id)
    return PlanSummary(plan_id, entity, rowversions.len(), slices_stored, cache_fit=fit)


def is_fresh(env: SyncEnv, entity: str) -> bool:
    """Whether ``entity`` has no sync state, no ScheduleHub record and no lease in force
    (no run writes it now): nothing of it has been synced, nothing is being synced."""
    if env.store.sync_state.exists(entity) or env.store.leases.held(entity):
        return False
    first_page = next(iter(env.schedulehub.index(entity, page_size=1)))
    return first_page.is_empty()


def keys_new(env: SyncEnv, row: Slice) -> bool:
    """Whether the keys of slice ``row`` cannot be in the state: its plan is fresh and no
    batch outside the plan has started since the plan's scan began (hosts that share the
    state database need synchronized clocks, as for leases)."""
    if not row.fresh or row.created_at is None:
        return False
    return not env.store.batches.others_since(row.entity, row.created_at, plan_id=row.plan_id)


def chunk_windows(row: Slice) -> list[Window]:
    """The slice's chunks as rowversion windows, in order."""
    texts = orjson.loads(row.chunk_bounds) if row.chunk_bounds else None
    bounds = (
        [dt.datetime.fromisoformat(t) for t in texts]
        if texts
        else [
            row.rowversion_lo,
            row.rowversion_hi,
        ]
    )
    return [
        Window(lo, hi, f"{row.plan_id}/{row.slice_no}/{i}")
        for i, (lo, hi) in enumerate(itertools.pairwise(bounds))
    ]


def lease_days(lo: dt.datetime, hi: dt.datetime) -> list[str]:
    """The daily partition keys a window [lo, hi) overlaps."""
    day, last = lo.date(), (hi - ONE_MICROSECOND).date()
    keys = []
    while day <= last:
        keys.append(day.isoformat())
        day += ONE_DAY
    return keys


def run_slice(
    env: SyncEnv,
    entity: str,
    slice_no: int,
    *,
    plan_id: str | None = None,
    dagster_run_id: str | None = None,
) -> BatchResult | None:
    """Sync slice ``slice_no`` of the entity's plan (the latest by default), resuming at its
    first uncommitted chunk; ``None`` when there is no such slice or it is done."""
    schedule = env.store.schedule
    plan_id = plan_id or schedule.latest_plan_id(entity)
    if plan_id is None:
        return None
    rows = schedule.plan(plan_id).filter(pl.col("slice_no") == slice_no)
    if rows.is_empty():
        return None
    row = schedule.get(int(rows["id"][0]))
    if row.status == "done":
        log.info("%s: slice %d of plan %s is done already", entity, slice_no, plan_id)
        return None
    windows = chunk_windows(row)[row.chunks_done :]
    batch = open_batch(
        env,
        entity,
        windows,
        kind="background",
        dagster_run_id=dagster_run_id,
        lease_keys=lease_days(row.rowversion_lo, row.rowversion_hi),
        plan_id=plan_id,
    )
    batch.keys_new = keys_new(env, row)  # under the lease: checked after open_batch
    schedule.start(row.id, batch.uid)
    fetched: dict[str, int] = {}

    def record_progress(chunk: Chunk, conn: Connection) -> None:
        key = chunk.window.key if chunk.window is not None else ""
        fetched[key] = fetched.get(key, 0) + chunk.metrics.rows_fetched
        if chunk.final:
            schedule.progress(row.id, rows=fetched.pop(key), chunks=1, conn=conn)

    batch.on_commit.append(record_progress)
    try:
        result = drain(batch, stages(batch))
    except BaseException as exc:
        schedule.finish_slice(row.id, status="failed", error_message=f"{type(exc).__name__}: {exc}")
        raise
    finally:
        if batch.state_rebuilt:  # the state was lost and rebuilt: its keys may be anywhere
            schedule.clear_fresh(plan_id)
    # chunks that brought no row at all (deleted since planning) are done too
    missing = len(chunk_windows(row)) - schedule.get(row.id).chunks_done
    if missing > 0:
        schedule.progress(row.id, rows=0, chunks=missing)
    schedule.finish_slice(row.id, status="done")
    return result


def progress(env: SyncEnv, entity: str, plan_id: str | None = None) -> dict[str, float]:
    """Slices done, rows done and planned, of the entity's plan (for the UI)."""
    plan_id = plan_id or env.store.schedule.latest_plan_id(entity)
    if plan_id is None:
        return {}
    plan = env.store.schedule.plan(plan_id)
    return {
        "slices": float(plan.height),
        "slices_done": float((plan["status"] == "done").sum()),
        "rows_planned": float(plan["planned_rows"].sum()),
        "rows_done": float(plan["rows_done"].sum()),
    }
