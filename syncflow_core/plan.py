"""Dry run: what a sync of some windows would do, computed without writing anything anywhere.

>>> with SyncEnv.from_settings(upgrade=False) as env:               # doctest: +SKIP
...     plan = plan_sync(env, "items", [Window.day(dt.date(2025, 1, 2))])
...     plan.counts
{'fetched': 412, 'inserted': 12, 'updated': 40, 'skipped': 347, 'failed': 13, 'parked': 0,
 'superseded': 0}

The rows go through the pipeline's own stage functions, fetch to resolve (the same
watermarks, the same normalization, the same delta join, the same parent lookup), on a
batch-like object that has no ``sync_batches`` row and no lease; ingest and track never
run. The reads are the only calls: APISmith's ``/schema`` and pages, the state store
(watermarks, ``erp_sync_state`` of the entity and of its parents), and ScheduleHub's
``/index`` and ``GET ?erp_key_hash=`` (read-only endpoints).

Where a real sync would write first, the plan reads instead:

- no sync state for the entity: a sync rebuilds it from ScheduleHub's ``/index`` before
  comparing; the plan reads the index into memory and compares with that;
- updates: the current records of a sample of keys are read from ScheduleHub and compared
  field by field with what the sync would send;
- deletes (``deletes=True``; a key-only scan of the whole source): what a reconciliation
  would delete — ScheduleHub's records (its index, which the reconciliation adopts into
  the state first) whose key the ERP no longer has — and whether the mass-delete guard
  would refuse.

What a dry run cannot know: refusals that only ScheduleHub decides when it is written to
(a 422, a parent deleted there since), and a key that ScheduleHub holds but the state
does not (the sync meets a 409 and adopts it; the plan counts an insert).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import polars as pl

from syncflow_core import pipeline
from syncflow_core.catalog import EntitySpec, ValueType
from syncflow_core.delta import OP_INSERT, OP_UPDATE, plan_deletes
from syncflow_core.env import SyncEnv
from syncflow_core.pipeline import Batch, DryRun
from syncflow_core.reconcile import source_key_hashes
from syncflow_core.state.clock import utcnow
from syncflow_core.stream import Chunk, ChunkStream
from syncflow_core.track import STATE_COLUMNS, record_fields
from syncflow_core.windows import Window, utc_naive

DEFAULT_SAMPLE = 5
#: the uid of the batch-like object a plan runs on; never stored anywhere
DRY_RUN_UID = "dry-run"
OUTCOMES = ("inserted", "updated", "skipped", "failed", "parked", "superseded")
#: how the ingest stage writes datetimes (``ingest.encode_bodies``)
SENT_DATETIME = "%Y-%m-%dT%H:%M:%S.%f"


@dataclass(frozen=True)
class DeletePlan:
    """What a reconciliation would delete now."""

    rows: int
    compared: int  # ScheduleHub records compared with the source's keys
    source_keys: int
    guard_share: float

    @property
    def refused(self) -> bool:
        """Whether the mass-delete guard would stop the reconciliation (unless forced)."""
        return bool(self.rows) and self.rows > self.guard_share * self.compared

    def as_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "compared": self.compared,
            "source_keys": self.source_keys,
            "guard_share": self.guard_share,
            "guard_would_refuse": self.refused,
        }


@dataclass
class SyncPlan:
    """What a sync would do: counts per outcome and a sample of rows of each."""

    entity: str
    windows: list[str]
    full_rescan: bool
    compared_with: str
    counts: dict[str, int]
    samples: dict[str, list[dict[str, Any]]]
    deletes: DeletePlan | None = None
    new_source_columns: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        counts: dict[str, int | None] = dict(self.counts)
        counts["deleted"] = self.deletes.rows if self.deletes else None
        return {
            "entity": self.entity,
            "windows": self.windows,
            "full_rescan": self.full_rescan,
            "compared_with": self.compared_with,
            "counts": counts,
            "deletes": self.deletes.as_dict() if self.deletes else None,
            "new_source_columns": list(self.new_source_columns),
            "samples": self.samples,
            "written": False,
        }


def plan_sync(
    env: SyncEnv,
    entity: str,
    windows: Sequence[Window],
    *,
    full_rescan: bool = False,
    deletes: bool = False,
    sample: int = DEFAULT_SAMPLE,
) -> SyncPlan:
    """What ``sync_window(env, entity, windows, full_rescan=...)`` would do now."""
    batch = dry_batch(env, entity, windows, full_rescan=full_rescan, sample=sample)
    return collect(batch, stages(batch), deletes=deletes)


def dry_batch(
    env: SyncEnv,
    entity: str,
    windows: Sequence[Window],
    *,
    full_rescan: bool = False,
    sample: int = DEFAULT_SAMPLE,
) -> Batch:
    """A batch-like object for a dry run: no ``sync_batches`` row, no lease, its state
    primed (:func:`prime`). The pipeline's ingest and track pass its chunks on unsent."""
    batch = Batch(
        env=env,
        spec=env.spec(entity),
        uid=DRY_RUN_UID,
        kind="sync",
        windows=sorted(windows),
        lease=None,
        started_at=utcnow(),
        full_rescan=full_rescan,
    )
    prime(batch, sample)
    return batch


def stages(batch: Batch) -> ChunkStream[Chunk]:
    """The read-only stages of a dry batch, fetch to resolve, lazily."""
    stream = pipeline.fetch(batch)
    for name in ("normalize", "validate", "map", "identity", "delta", "resolve"):
        stream = pipeline.apply_stage(batch, stream, name)
    return stream


def collect(batch: Batch, chunks: Iterable[Chunk], *, deletes: bool = False) -> SyncPlan:
    """Pull ``chunks`` (a dry batch's, after resolve) and say what a sync would do."""
    if batch.dry_run is None:
        raise ValueError(f"{batch.entity} batch {batch.uid} is not a dry run")
    env, sample = batch.env, batch.dry_run.sample
    collector = _Collector(batch.spec, sample)
    for chunk in chunks:
        collector.add(chunk)
    samples = collector.samples
    samples["updated"] = _diff_updates(env, batch.spec, collector.updates)
    delete_plan = None
    if deletes:
        delete_plan, samples["deleted"] = _plan_deletes(
            env, batch.spec, batch.dry_run.index, sample
        )
    return SyncPlan(
        entity=batch.entity,
        windows=[w.key for w in batch.windows],
        full_rescan=batch.full_rescan,
        compared_with=batch.dry_run.compared_with,
        counts={name: int(collector.counts[name]) for name in ("fetched", *OUTCOMES)},
        samples=samples,
        deletes=delete_plan,
        new_source_columns=batch.drift.added if batch.drift else (),
    )


def prime(batch: Batch, sample: int = DEFAULT_SAMPLE) -> None:
    """Make ``batch`` a dry run, its state set up as ``pipeline.ensure_state`` would, reading
    instead of rebuilding: when the entity has no sync state, ScheduleHub's index is read
    into memory and the delta compares with that."""
    env, entity = batch.env, batch.entity
    batch.state_ready = True  # ensure_state must not run: it would write the state
    keys = env.store.sync_state.count(entity)
    if keys:
        batch.dry_run = DryRun(f"the sync state ({keys:,} keys)", None, sample)
        return
    index = read_index(env, entity)
    if index.is_empty():
        batch.first_load = True
        compared_with = "nothing: no sync state and no ScheduleHub records (a first load)"
    else:
        batch.state_cache = index.select(STATE_COLUMNS)  # what the rebuilt state would hold
        compared_with = (
            f"ScheduleHub's index ({index.height:,} records): there is no sync state, "
            "a sync would rebuild it from there"
        )
    batch.dry_run = DryRun(compared_with, index, sample)


def read_index(env: SyncEnv, entity: str) -> pl.DataFrame:
    """ScheduleHub's whole index of ``entity`` in memory (uid, key and data hash, rowversion)."""
    return pl.concat(list(env.schedulehub.index(entity)), how="vertical_relaxed")


# --- counting and sampling -----------------------------------------------------------------


@dataclass
class _Collector:
    """Counts every chunk's outcomes; keeps the first ``size`` rows of each."""

    spec: EntitySpec
    size: int
    counts: Counter[str] = field(default_factory=Counter)
    samples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    updates: list[pl.DataFrame] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.samples = {name: [] for name in ("inserted", "failed", "parked")}

    def add(self, chunk: Chunk) -> None:
        m, frame = chunk.metrics, chunk.frame
        pending = chunk.pending if chunk.pending is not None else frame.clear()
        inserts = frame.filter(pl.col("op") == OP_INSERT)
        updates = frame.filter(pl.col("op") == OP_UPDATE)
        self.counts.update(
            fetched=m.rows_fetched,
            inserted=inserts.height,
            updated=updates.height,
            skipped=m.rows_skipped,
            failed=m.rows_failed,
            parked=pending.height,
            superseded=m.rows_superseded,
        )
        self._take("inserted", inserts, self._inserted)
        self._take("parked", pending, self._parked)
        for failed in chunk.failed:
            self._take("failed", failed, self._failed)
        held = sum(u.height for u in self.updates)
        if held < self.size and updates.height:
            self.updates.append(updates.head(self.size - held))

    def _take(self, name: str, frame: pl.DataFrame, render: Any) -> None:
        room = self.size - len(self.samples[name])
        if room > 0 and frame.height:
            self.samples[name].extend(render(frame.head(room)))

    def _inserted(self, rows: pl.DataFrame) -> list[dict[str, Any]]:
        fields = [f for f in record_fields(self.spec) if f in rows.columns]
        keys = record_keys(self.spec, rows)
        return [
            {
                "key": key,
                "erp_key_hash": row["erp_key_hash"],
                "record": {k: plain(row[k]) for k in fields},
            }
            for key, row in zip(keys, rows.iter_rows(named=True), strict=True)
        ]

    def _parked(self, rows: pl.DataFrame) -> list[dict[str, Any]]:
        refs = {ref.entity: ref for ref in self.spec.parents}
        out = []
        for key, row in zip(record_keys(self.spec, rows), rows.iter_rows(named=True), strict=True):
            ref = refs[row["parent_entity"]]
            parent_key = " / ".join(str(row[child]) for _, child in ref.key_map)
            out.append(
                {
                    "key": key,
                    "erp_key_hash": row["erp_key_hash"],
                    "waits_for": row["parent_entity"],
                    "parent_key": parent_key,
                }
            )
        return out

    def _failed(self, rows: pl.DataFrame) -> list[dict[str, Any]]:
        keys = raw_keys(self.spec, rows["raw_data"])
        return [
            {
                "key": key,
                "stage": row["stage_failed"],
                "error_type": row["error_type"],
                "field": row["field"],
                "message": row["error_message"],
            }
            for key, row in zip(keys, rows.iter_rows(named=True), strict=True)
        ]


def record_keys(spec: EntitySpec, records: pl.DataFrame) -> list[str]:
    """Each record's business key as text (``K1 / K2``)."""
    parts = [pl.col(k).cast(pl.String).fill_null("∅") for k in spec.key_fields]
    return records.select(pl.concat_str(parts, separator=" / ")).to_series().to_list()


def raw_keys(spec: EntitySpec, raw_data: pl.Series) -> list[str]:
    """The key as the ERP row had it (raw text, whitespace trimmed), from ``raw_data``."""
    frame = pl.DataFrame({"raw": raw_data})
    parts = [
        pl.col("raw").str.json_path_match(f"$.{column}").str.strip_chars().fill_null("∅")
        for column in spec.key_source_columns
    ]
    return frame.select(pl.concat_str(parts, separator=" / ")).to_series().to_list()


def plain(value: Any) -> Any:
    """A value as JSON shows it; datetimes in ISO 8601 as the sync sends them.

    >>> plain(dt.datetime(2025, 1, 2, 3, 4, 5)), plain(12.5)
    ('2025-01-02T03:04:05.000000', 12.5)
    """
    if isinstance(value, dt.datetime):
        return value.strftime(SENT_DATETIME)
    return value


# --- updates: field by field -----------------------------------------------------------------


def _diff_updates(
    env: SyncEnv, spec: EntitySpec, updates: list[pl.DataFrame]
) -> list[dict[str, Any]]:
    """The sampled updates with the fields that change, against ScheduleHub's records now."""
    if not updates:
        return []
    rows = pl.concat(updates, how="vertical_relaxed")
    current = env.schedulehub.get_by_keys(spec.name, rows["erp_key_hash"].to_list())
    records = {k: orjson.loads(r) for k, r in current.select("erp_key_hash", "record").iter_rows()}
    compared = [f for f in (*spec.data_fields, *(r.uid_field for r in spec.parents)) if f in rows]
    types = {f.target: f.value_type for f in spec.fields}
    out = []
    for key, row in zip(record_keys(spec, rows), rows.iter_rows(named=True), strict=True):
        old = records.get(row["erp_key_hash"])
        entry: dict[str, Any] = {"key": key, "erp_key_hash": row["erp_key_hash"], "uid": row["uid"]}
        if old is None:
            entry["changes"] = None
            entry["note"] = "not in ScheduleHub any more: the sync inserts it again"
        else:
            entry["changes"] = [
                {"field": name, "before": old.get(name), "after": plain(row[name])}
                for name in compared
                if not same_value(types.get(name, ValueType.STRING), old.get(name), row[name])
            ]
            if not entry["changes"]:
                entry["note"] = "no field differs: the state's data hash was marked for repair"
        out.append(entry)
    return out


def same_value(value_type: ValueType, old: Any, new: Any) -> bool:
    """Whether ScheduleHub's JSON value ``old`` equals the typed value ``new``.

    >>> same_value(ValueType.DATETIME, "2025-01-02T03:04:05Z", dt.datetime(2025, 1, 2, 3, 4, 5))
    True
    >>> same_value(ValueType.FLOAT, 12, 12.0), same_value(ValueType.STRING, "a", "b")
    (True, False)
    """
    if old is None or new is None:
        return old is None and new is None
    if value_type is ValueType.DATETIME:
        return _as_datetime(old) == _as_datetime(new)
    if value_type in (ValueType.FLOAT, ValueType.INTEGER) and not isinstance(old, bool):
        try:
            return float(old) == float(new)
        except (TypeError, ValueError):
            return False
    return bool(old == new)


def _as_datetime(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return utc_naive(value)
    try:
        return utc_naive(dt.datetime.fromisoformat(str(value)))
    except ValueError:
        return None


# --- deletes ---------------------------------------------------------------------------------


def _plan_deletes(
    env: SyncEnv, spec: EntitySpec, index: pl.DataFrame | None, sample: int
) -> tuple[DeletePlan, list[dict[str, Any]]]:
    """ScheduleHub's records whose key the ERP no longer has (a key-only source scan)."""
    if index is None:
        index = read_index(env, spec.name)
    source = source_key_hashes(env, spec)
    guard = env.settings.delete_guard_share
    gone = plan_deletes(
        spec.name, source, index.select("erp_key_hash", "uid"), guard_share=guard, force=True
    )
    plan = DeletePlan(gone.height, index.height, source.n_unique(), guard)
    shown = gone.head(sample)
    found = env.schedulehub.get_by_keys(spec.name, shown["erp_key_hash"].to_list())
    records = {k: orjson.loads(r) for k, r in found.select("erp_key_hash", "record").iter_rows()}
    out = []
    for key_hash, uid in shown.select("erp_key_hash", "uid").iter_rows():
        record = records.get(key_hash, {})
        key = " / ".join(str(record.get(k, "?")) for k in spec.key_fields)
        out.append({"key": key, "erp_key_hash": key_hash, "uid": uid})
    return plan, out
