"""One batch through the nine stages, callable without Dagster.

>>> with SyncEnv.from_settings() as env:                      # doctest: +SKIP
...     result = sync_window(env, "items", Window.day(dt.date(2025, 12, 8)))
...     result.metrics.rows_inserted

A batch is opened (a ``sync_batches`` row and a lease on its windows), then its chunks are
pulled through the stages: fetch → normalize → validate → map → identity → delta →
resolve → ingest → track. Each stage is a function of (batch, chunk); the Dagster layer
gives each its own op and passes the lazy :class:`ChunkStream` between them. Chunks' state
is committed in order; the stages before it may run up to ``pipeline_depth`` chunks ahead,
in threads cut at ``THREAD_BREAKS`` (:func:`overlap`). :func:`finish` closes the batch:
the accounting invariant, the ``sync_batches`` row, the lease.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import polars as pl
from sqlalchemy.engine import Connection

from syncflow_core import delta as delta_stage
from syncflow_core import drift as schema_drift
from syncflow_core import ingest as ingest_stage
from syncflow_core import track as track_stage
from syncflow_core.catalog import EntitySpec
from syncflow_core.clients.bounds import RowversionBounds
from syncflow_core.env import SyncEnv
from syncflow_core.lease import Lease, holder_name
from syncflow_core.metrics import BatchMetrics
from syncflow_core.normalize import stages as norm
from syncflow_core.resolve import ParentLookup, resolve_parents
from syncflow_core.state.clock import utcnow
from syncflow_core.stream import Chunk, ChunkStream, InFlight
from syncflow_core.windows import Window, to_source_time

log = logging.getLogger(__name__)

STAGES = (
    "fetch",
    "normalize",
    "validate",
    "map",
    "identity",
    "delta",
    "resolve",
    "ingest",
    "track",
)


@dataclass(frozen=True)
class DryRun:
    """What makes a batch a dry run (``syncflow_core.plan``): it has no ``sync_batches`` row
    and no lease, ingest and track pass its chunks on untouched, and finishing it records
    nothing. Its delta compares with ``compared_with``; ``index`` is ScheduleHub's index
    when it was read in place of a state rebuild."""

    compared_with: str
    index: pl.DataFrame | None = None
    sample: int = 5


@dataclass
class Batch:
    """An open batch: what it works on, its lease, and what it has counted so far."""

    env: SyncEnv
    spec: EntitySpec
    uid: str
    kind: str
    windows: list[Window]
    lease: Lease | None
    started_at: dt.datetime
    full_rescan: bool = False
    metrics: BatchMetrics = field(default_factory=BatchMetrics)
    errors: Counter[tuple[str, str]] = field(default_factory=Counter)
    high_marks: dict[str, dt.datetime] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    state_ready: bool = False
    #: the entity had no state at all when the batch began (a first load): every row is
    #: new, and the delta needs no lookup (a key seen twice in the scan meets a 409)
    first_load: bool = False
    #: the batch's keys cannot be in the state although the entity has some (a slice of a
    #: fresh background plan): a first load too, once the state is known not rebuilt
    keys_new: bool = False
    #: the state was empty and rebuilt from ScheduleHub's index by this batch
    state_rebuilt: bool = False
    #: keys whose state the delta looked up (0 for a first load, or with the whole state)
    keys_looked_up: int = 0
    #: what ``/schema`` showed of drift at the start of the fetch (new columns are ignored)
    drift: schema_drift.DriftReport | None = None
    #: the entity's whole state, for big batches of entities that fit (see ``_state_for``)
    state_cache: pl.DataFrame | None = None
    #: the keys the entity's queues hold, read at the first commit (see ``QueuedKeys``)
    queued: track_stage.QueuedKeys | None = None
    #: called inside each chunk's commit (same transaction): (chunk, connection)
    on_commit: list[Callable[[Chunk, Connection], None]] = field(default_factory=list)
    #: a re-drive books outcomes against its queue: "failed" or "pending" (None: a sync)
    queue: str | None = None
    #: set on a dry run, which writes nothing anywhere (None: a batch that writes)
    dry_run: DryRun | None = None

    @property
    def entity(self) -> str:
        return self.spec.name


@dataclass(frozen=True)
class BatchResult:
    """What a finished batch did."""

    batch_uid: str
    entity: str
    kind: str
    status: str
    metrics: BatchMetrics
    errors: dict[str, int]
    windows: list[str]
    seconds: float
    error_message: str | None = None
    #: source schema changes that were ignored: ``drift.DriftReport.as_metadata()`` (empty
    #: when ``/schema`` matched the catalog)
    schema_changes: dict[str, str] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.metrics.rows_fetched / self.seconds if self.seconds > 0 else 0.0


# --- opening and closing -------------------------------------------------------------------


def open_batch(
    env: SyncEnv,
    entity: str,
    windows: Sequence[Window],
    *,
    kind: str = "sync",
    dagster_run_id: str | None = None,
    full_rescan: bool = False,
    lease_keys: Sequence[str] | None = None,
    plan_id: str | None = None,
) -> Batch:
    """Start a batch on ``windows`` of ``entity``: a ``sync_batches`` row and the lease.

    Raises :class:`~syncflow_core.lease.LeaseHeldError` (the batch recorded as failed)
    when another run holds one of the windows.
    """
    spec = env.spec(entity)
    ordered = sorted(windows)
    uid = env.store.batches.start(
        entity,
        kind=kind,
        window_start=ordered[0].start if ordered else None,
        window_end=ordered[-1].end if ordered else None,
        dagster_run_id=dagster_run_id,
        plan_id=plan_id,
    )
    keys = list(lease_keys) if lease_keys is not None else [w.key for w in ordered]
    lease = Lease(env.store, entity, keys, holder_name(uid), env.settings.lease_seconds)
    try:
        lease.acquire()
    except Exception as exc:
        env.store.batches.finish(uid, status="failed", error_message=str(exc))
        raise
    return Batch(
        env=env,
        spec=spec,
        uid=uid,
        kind=kind,
        windows=ordered,
        lease=lease,
        started_at=utcnow(),
        full_rescan=full_rescan,
    )


def finish(batch: Batch, *, error: BaseException | None = None) -> BatchResult:
    """Close ``batch``: check the accounting, record it, release the lease.

    A dry run records nothing (it has no batch row and no lease, and counts no writes)."""
    metrics = batch.metrics
    metrics.stage_seconds = dict(batch.seconds)
    status, message = "succeeded", None
    try:
        if error is None and batch.dry_run is None:
            metrics.check_accounting()
    except Exception as exc:
        error = exc
    if error is not None:
        status, message = "failed", f"{type(error).__name__}: {error}"
    if batch.dry_run is not None:
        return _result(batch, status, message)
    try:
        batch.env.store.batches.finish(
            batch.uid,
            status=status,
            error_message=message,
            metrics={
                "stage_seconds": metrics.stage_seconds,
                "errors": _error_map(batch),
                "state_keys_looked_up": batch.keys_looked_up,
            },
            success_rate=metrics.success_rate,
        )
    finally:
        if batch.lease is not None:
            batch.lease.release()
    result = _result(batch, status, message)
    counts = {k: v for k, v in metrics.as_dict().items() if k != "stage_seconds"}
    seconds = {f"seconds_{k}": round(v, 4) for k, v in metrics.stage_seconds.items()}
    log.info(
        "%s %s batch %s %s: %s",
        batch.entity,
        batch.kind,
        batch.uid,
        status,
        counts,
        extra={"stage": "track", "metrics": {**counts, **seconds}},
    )
    return result


def _result(batch: Batch, status: str, message: str | None) -> BatchResult:
    drift = batch.drift
    return BatchResult(
        batch_uid=batch.uid,
        entity=batch.entity,
        kind=batch.kind,
        status=status,
        metrics=batch.metrics,
        errors=_error_map(batch),
        windows=[w.key for w in batch.windows],
        seconds=(utcnow() - batch.started_at).total_seconds(),
        error_message=message,
        schema_changes=drift.as_metadata() if drift is not None else {},
    )


def _error_map(batch: Batch) -> dict[str, int]:
    return {f"{stage}:{kind}": n for (stage, kind), n in sorted(batch.errors.items())}


# --- the nine stages -------------------------------------------------------------------------


def fetch(batch: Batch) -> ChunkStream[Chunk]:
    """Stage 1: each window's rows above its watermark, in chunks of ``chunk_rows``."""
    return ChunkStream(batch.entity, _fetch_chunks(batch), batch.seconds).timed_source("fetch")


def _fetch_chunks(batch: Batch) -> Iterator[Chunk]:
    env, spec = batch.env, batch.spec
    batch.drift = schema_drift.check(spec, env.apismith.schema(batch.entity))
    if batch.drift.changed:
        log.warning(
            "%s: source schema changed (ignored): %s",
            batch.entity,
            batch.drift.as_metadata(),
            extra={"stage": "fetch"},
        )
    marks: dict[dt.datetime, dt.datetime] = {}
    days = [w for w in batch.windows if w.is_day]  # watermarks are kept per daily window
    if days and not batch.full_rescan:
        marks = env.store.watermarks.get(batch.entity, days[0].start, days[-1].end)
    seq = 0
    for window in batch.windows:
        bounds = _bounds(spec, window, marks.get(window.start))
        previous: Chunk | None = None
        for frame in env.apismith.frames(
            batch.entity, bounds=bounds, chunk_rows=env.settings.chunk_rows
        ):
            if batch.lease is not None:
                batch.lease.check()
            if previous is not None:
                yield previous
            previous = Chunk(window=window, seq=seq, final=False, frame=frame)
            previous.metrics.rows_fetched = frame.height
            seq += 1
        if previous is not None:
            previous.final = True
            yield previous


def _bounds(spec: EntitySpec, window: Window, mark: dt.datetime | None) -> RowversionBounds:
    tz = spec.source_timezone
    start, end = to_source_time(window.start, tz), to_source_time(window.end, tz)
    if mark is not None and mark >= window.start:
        return RowversionBounds(gt=to_source_time(mark, tz), lt=end)
    return RowversionBounds(ge=start, lt=end)


def normalize(batch: Batch, chunk: Chunk) -> Chunk:
    """Stage 2: layers 1-4 (and the defaults and transforms of layer 5) over every column."""
    chunk.staged = norm.normalize(batch.spec, chunk.frame)
    return chunk


def validate(batch: Batch, chunk: Chunk) -> Chunk:
    """Stage 3: rows with an error leave for ``failed_records`` (first failing field)."""
    chunk.staged, failed = norm.validate(batch.spec, chunk.staged)
    chunk.failed.append(failed)
    counts = norm.stage_counts(chunk.frame.height, failed)
    chunk.metrics.rows_normalized = counts["rows_normalized"]
    chunk.metrics.rows_validated = counts["rows_validated"]
    chunk.metrics.rows_mapped = counts["rows_mapped"]
    chunk.metrics.rows_failed += failed.height
    return chunk


def map_fields(batch: Batch, chunk: Chunk) -> Chunk:
    """Stage 4: the target fields, in catalog order, with their normalized types."""
    chunk.staged = norm.map_fields(batch.spec, chunk.staged)
    return chunk


def identity(batch: Batch, chunk: Chunk) -> Chunk:
    """Stage 5: ``erp_key_hash``, ``erp_data_hash``, ``erp_rowversion``; newest per key."""
    records, superseded = norm.identify(batch.spec, chunk.staged)
    chunk.staged = None
    chunk.frame = records
    chunk.metrics.rows_superseded = superseded
    chunk.high_rowversion = _high_mark(records, chunk.failed)
    return chunk


def _high_mark(records: pl.DataFrame, failed: list[pl.DataFrame]) -> dt.datetime | None:
    values = [f["erp_rowversion"].max() for f in (records, *failed) if f.height]
    present = [v for v in values if isinstance(v, dt.datetime)]
    return max(present) if present else None


def delta(batch: Batch, chunk: Chunk) -> Chunk:
    """Stage 6: insert / update / skip by one join against ``erp_sync_state``."""
    ensure_state(batch)
    if chunk.frame.is_empty() or batch.first_load:
        chunk.frame = chunk.frame.with_columns(
            pl.lit(None, pl.String).alias("uid"),
            pl.lit(None, pl.String).alias("prev_data_hash"),
            pl.lit(delta_stage.OP_INSERT).alias("op"),
        )
        return chunk
    chunk.frame = delta_stage.plan_delta(chunk.frame, _state_for(batch, chunk.frame))
    return chunk


#: a chunk at least this big compares against the whole entity's state, read once per
#: batch (one bulk read beats staging its keys chunk after chunk)
WHOLE_STATE_MIN_CHUNK = 20_000


def _state_for(batch: Batch, records: pl.DataFrame) -> pl.DataFrame:
    """The state rows a chunk's delta needs: looked up by key, or the whole entity's.

    A background slice always looks up by key: the whole state of a very large entity
    would make its memory grow with the table (about 130 MB per million keys)."""
    store = batch.env.store
    whole = batch.kind != "background" and records.height >= WHOLE_STATE_MIN_CHUNK
    if batch.state_cache is None and whole:
        count = store.sync_state.count(batch.entity)
        if count <= batch.env.settings.state_cache_rows:
            batch.state_cache = store.load_sync_state(batch.entity)
    if batch.state_cache is not None:
        return batch.state_cache
    batch.keys_looked_up += records.height
    return store.load_sync_state_for_keys(batch.entity, records["erp_key_hash"])


def ensure_state(batch: Batch) -> None:
    """Rebuild ``erp_sync_state`` from ScheduleHub's ``/index`` when there is none (a
    first run, or a lost state database), so a lost database never creates duplicates."""
    if batch.state_ready:
        return
    if batch.dry_run is not None:  # a rebuild writes the state: a dry run primes it instead
        raise RuntimeError(f"dry run of {batch.entity}: the sync state was not primed")
    adopted = track_stage.rebuild_state_if_empty(batch.env, batch.entity, batch.uid)
    batch.state_rebuilt = bool(adopted)
    batch.first_load = adopted == 0 or (adopted is None and batch.keys_new)
    batch.state_ready = True


def resolve(batch: Batch, chunk: Chunk) -> Chunk:
    """Stage 7: parents' uids joined in; rows whose parent is unknown are parked."""
    skip = pl.col("op") == delta_stage.OP_SKIP
    sending = chunk.frame.filter(~skip)
    chunk.skipped = chunk.frame.filter(skip)
    chunk.metrics.rows_skipped += chunk.skipped.height
    resolved, orphans = resolve_parents(
        batch.spec, batch.env.catalog, sending, parent_lookup(batch.env)
    )
    chunk.frame = resolved
    chunk.pending = orphans
    return chunk


def parent_lookup(env: SyncEnv) -> ParentLookup:
    """Parents' uids by key hash, from their ``erp_sync_state``."""

    def lookup(parent: str, keys: pl.Series) -> pl.DataFrame:
        return env.store.load_sync_state_for_keys(parent, keys).select("erp_key_hash", "uid")

    return lookup


def ingest(batch: Batch, chunk: Chunk) -> Chunk:
    """Stage 8: the writes through the batch endpoint; one outcome per row."""
    if batch.dry_run is not None:  # what would be written stays in the frame, unsent
        return chunk
    if chunk.frame.is_empty():
        chunk.frame = chunk.frame.with_columns(
            pl.lit(None, pl.String).alias(c) for c in ingest_stage.OUTCOME_COLUMNS
        ).with_columns(pl.lit(None, pl.String).alias("body"))
        return chunk
    fields = track_stage.record_fields(batch.spec)
    ops = chunk.frame.with_columns(ingest_stage.encode_bodies(chunk.frame, fields))
    outcomes = ingest_stage.ingest(batch.env.schedulehub, batch.entity, ops)
    # Until its commit a chunk keeps of a written row only what track stores (key, uid,
    # hashes, rowversion, outcome): a failed write keeps its body (its dead letter) and a
    # refused child its record (parked). The bodies were two thirds of a chunk's memory
    # after this stage, the record's text most of the rest (26.5 -> 19 MB per 100,000
    # items), and chunks wait here when the state writes are the slowest stage.
    failed = pl.col("outcome") == ingest_stage.FAILED
    kept = failed | (pl.col("outcome") == ingest_stage.PENDING)
    text = [
        name
        for name in fields
        if name not in track_stage.IDENTITY_COLUMNS and outcomes.schema.get(name) == pl.String
    ]
    chunk.frame = outcomes.with_columns(
        pl.when(failed).then(pl.col("body")).alias("body"),
        *(pl.when(kept).then(pl.col(name)).alias(name) for name in text),
    )
    return chunk


def track(batch: Batch, chunk: Chunk) -> Chunk:
    """Stage 9: state, dead letters, parked children, counts and watermark, one transaction."""
    if batch.dry_run is None:  # a dry run only counts
        track_stage.commit_chunk(batch, chunk)
    batch.metrics.add(chunk.metrics)
    return chunk


# --- whole batches -----------------------------------------------------------------------


#: where the stages hand over to a thread of their own (see ``ChunkStream.ahead``): the
#: source side (fetch to identity), the state lookups (delta), the ScheduleHub side
#: (resolve and ingest) and the state writes (track) overlap, chunk after chunk. Delta has
#: a thread of its own because its lookups grow with the state (a background slice of a
#: large table probes millions of keys) while ingest waits on ScheduleHub.
THREAD_BREAKS = frozenset({"identity", "delta", "ingest"})


def apply_stage(batch: Batch, stream: ChunkStream[Chunk], name: str) -> ChunkStream[Chunk]:
    """``stream`` through stage ``name`` (lazily), running ahead in a thread of its own
    after the stages of ``THREAD_BREAKS`` when ``pipeline_depth`` > 0."""
    return overlap(batch, stream.map(name, _bound(STAGE_FUNCTIONS[name], batch)), name)


def overlap(batch: Batch, stream: ChunkStream[Chunk], name: str) -> ChunkStream[Chunk]:
    """``stream`` (just through stage ``name``) run ahead in a thread of its own when
    ``name`` is one of ``THREAD_BREAKS`` and ``pipeline_depth`` > 0; else ``stream``.

    Whoever chains the stages (:func:`stages`, or the Dagster stage ops) calls it after
    each, so every way of running a batch overlaps its stages the same way."""
    depth = batch.env.settings.pipeline_depth
    return stream.ahead(depth, name=name) if depth and name in THREAD_BREAKS else stream


#: chunks in flight between the fetch and the end of track, beyond ``pipeline_depth``: one
#: per thread (source, delta, ScheduleHub side, track), so that each has one to work on
IN_FLIGHT_PER_THREAD = 4


def stages(batch: Batch) -> ChunkStream[Chunk]:
    """The nine stages over ``batch``, lazily: iterate to run them chunk by chunk.

    With overlapping stages at most ``IN_FLIGHT_PER_THREAD + pipeline_depth`` chunks are
    between the fetch and the end of track, wherever the slowest stage is (``InFlight``)."""
    depth = batch.env.settings.pipeline_depth
    in_flight = InFlight(IN_FLIGHT_PER_THREAD + depth) if depth else None
    stream = fetch(batch)
    if in_flight is not None:
        stream = in_flight.enter(stream)
    for name in STAGES[1:]:
        stream = apply_stage(batch, stream, name)
    return in_flight.leave(stream) if in_flight is not None else stream


Stage = Callable[[Batch, Chunk], Chunk]


def _bound(fn: Stage, batch: Batch) -> Callable[[Chunk], Chunk]:
    return lambda chunk: fn(batch, chunk)


STAGE_FUNCTIONS: dict[str, Stage] = {
    "normalize": normalize,
    "validate": validate,
    "map": map_fields,
    "identity": identity,
    "delta": delta,
    "resolve": resolve,
    "ingest": ingest,
    "track": track,
}


def drain(batch: Batch, stream: ChunkStream[Chunk]) -> BatchResult:
    """Run ``stream`` to its end and finish the batch (failed if a stage raised)."""
    try:
        for _ in stream:
            pass
    except BaseException as exc:
        result = finish(batch, error=exc)
        log.error("%s batch %s failed: %s", batch.entity, batch.uid, result.error_message)
        raise
    return finish(batch)


def sync_window(
    env: SyncEnv,
    entity: str,
    windows: Window | Sequence[Window],
    *,
    full_rescan: bool = False,
    dagster_run_id: str | None = None,
) -> BatchResult:
    """Sync ``entity`` over one or more rowversion windows; returns the batch's result."""
    chosen = [windows] if isinstance(windows, Window) else list(windows)
    batch = open_batch(env, entity, chosen, full_rescan=full_rescan, dagster_run_id=dagster_run_id)
    return drain(batch, stages(batch))
