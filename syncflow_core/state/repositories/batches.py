"""``sync_batches``: one row per batch (a sync, reconcile, redrive or background run).

>>> from syncflow_core.state import StateStore
>>> store = StateStore("sqlite://"); store.upgrade()  # doctest: +ELLIPSIS
CatalogDrift(...)
>>> uid = store.batches.start("items", window_start=dt.datetime(2025, 1, 1))
>>> store.batches.add_counts(uid, {"rows_fetched": 10, "rows_inserted": 9, "rows_failed": 1})
>>> batch = store.batches.finish(uid, metrics={"fetch_s": 0.5})
>>> batch.status, batch.counts["rows_inserted"], batch.success_rate
('succeeded', 9, 90.0)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl
import sqlalchemy as sa
import uuid_utils
from sqlalchemy.engine import Connection

from syncflow_core.state.bulk import read_frame
from syncflow_core.state.clock import naive_utc, utcnow
from syncflow_core.state.errors import UnknownBatchError
from syncflow_core.state.repositories.base import Repository
from syncflow_core.state.tables import BATCH_KINDS, BATCH_STATUSES, ROW_COUNTERS, sync_batches

T = sync_batches


@dataclass(frozen=True)
class Batch:
    """A ``sync_batches`` row."""

    batch_uid: str
    entity: str
    kind: str
    status: str
    window_start: dt.datetime | None
    window_end: dt.datetime | None
    started_at: dt.datetime
    finished_at: dt.datetime | None
    counts: Mapping[str, int]
    success_rate: float | None
    error_message: str | None
    dagster_run_id: str | None
    metrics: Mapping[str, Any]


def new_batch_uid() -> str:
    """A fresh UUID v7 (time-ordered) as text."""
    return str(uuid_utils.uuid7())


def _check_counts(counts: Mapping[str, int]) -> None:
    unknown = set(counts) - set(ROW_COUNTERS)
    if unknown:
        raise ValueError(f"unknown batch counter(s) {sorted(unknown)}; known: {ROW_COUNTERS}")


# 100 × (fetched − failed) / fetched; null when nothing came in.
SUCCESS_RATE = sa.case(
    (T.c.rows_fetched > 0, 100.0 * (T.c.rows_fetched - T.c.rows_failed) / T.c.rows_fetched),
    else_=sa.null(),
)


class BatchRepository(Repository):
    """Start, count, finish and read batches."""

    def start(
        self,
        entity: str,
        *,
        kind: str = "sync",
        window_start: dt.datetime | None = None,
        window_end: dt.datetime | None = None,
        dagster_run_id: str | None = None,
        plan_id: str | None = None,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> str:
        """Record a running batch (of background plan ``plan_id``, if any); returns its
        new uid (UUID v7)."""
        if kind not in BATCH_KINDS:
            raise ValueError(f"batch kind {kind!r} is not one of {BATCH_KINDS}")
        batch_uid = new_batch_uid()
        values = {
            "batch_uid": batch_uid,
            "entity": entity,
            "kind": kind,
            "status": "running",
            "window_start": naive_utc(window_start) if window_start else None,
            "window_end": naive_utc(window_end) if window_end else None,
            "started_at": naive_utc(now or utcnow()),
            "dagster_run_id": dagster_run_id,
            "plan_id": plan_id,
        }
        with self._write(conn) as c:
            c.execute(sa.insert(T).values(values))
        return batch_uid

    def others_since(
        self,
        entity: str,
        since: dt.datetime,
        *,
        plan_id: str,
        conn: Connection | None = None,
    ) -> bool:
        """Whether a batch of ``entity`` that is not of background plan ``plan_id`` has
        started at or after ``since`` (one probe of the (entity, started_at) index)."""
        stmt = sa.select(
            sa.exists().where(
                T.c.entity == entity,
                T.c.started_at >= naive_utc(since),
                sa.or_(T.c.plan_id.is_(None), T.c.plan_id != plan_id),
            )
        )
        with self._read(conn) as c:
            return bool(c.execute(stmt).scalar_one())

    def add_counts(
        self, batch_uid: str, counts: Mapping[str, int], *, conn: Connection | None = None
    ) -> None:
        """Add ``counts`` to the batch's counters (a chunked batch reports chunk by chunk)."""
        _check_counts(counts)
        if not counts:
            return
        increments = {name: T.c[name] + int(value) for name, value in counts.items()}
        with self._write(conn) as c:
            self._update(c, batch_uid, increments)

    def record_error(self, batch_uid: str, message: str, *, conn: Connection | None = None) -> None:
        """Keep ``message`` as the batch's error unless an earlier one is already there."""
        with self._write(conn) as c:
            self._update(
                c, batch_uid, {"error_message": sa.func.coalesce(T.c.error_message, message)}
            )

    def finish(
        self,
        batch_uid: str,
        *,
        status: str = "succeeded",
        counts: Mapping[str, int] | None = None,
        error_message: str | None = None,
        metrics: Mapping[str, Any] | None = None,
        success_rate: float | None = None,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> Batch:
        """Close the batch: ``counts`` (absolute) replace counters, ``error_message`` is kept
        only if there is no earlier one, ``success_rate`` defaults to
        100 × (fetched − failed) / fetched."""
        if status not in BATCH_STATUSES or status == "running":
            raise ValueError(f"a batch finishes as 'succeeded' or 'failed', not {status!r}")
        counts = counts or {}
        _check_counts(counts)
        values: dict[str, Any] = {name: int(value) for name, value in counts.items()}
        values |= {"status": status, "finished_at": naive_utc(now or utcnow())}
        if error_message is not None:
            values["error_message"] = sa.func.coalesce(T.c.error_message, error_message)
        if metrics is not None:
            values["metrics"] = orjson.dumps(metrics, option=orjson.OPT_NON_STR_KEYS).decode()
        with self._write(conn) as c:
            self._update(c, batch_uid, values)
            rate = success_rate if success_rate is not None else SUCCESS_RATE
            c.execute(sa.update(T).where(T.c.batch_uid == batch_uid).values(success_rate=rate))
            return self.get(batch_uid, conn=c)

    def get(self, batch_uid: str, *, conn: Connection | None = None) -> Batch:
        """The batch ``batch_uid``; :class:`UnknownBatchError` if there is none."""
        with self._read(conn) as c:
            row = c.execute(sa.select(T).where(T.c.batch_uid == batch_uid)).mappings().first()
        if row is None:
            raise UnknownBatchError(batch_uid)
        return Batch(
            batch_uid=row["batch_uid"],
            entity=row["entity"],
            kind=row["kind"],
            status=row["status"],
            window_start=row["window_start"],
            window_end=row["window_end"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            counts={name: int(row[name]) for name in ROW_COUNTERS},
            success_rate=row["success_rate"],
            error_message=row["error_message"],
            dagster_run_id=row["dagster_run_id"],
            metrics=orjson.loads(row["metrics"]) if row["metrics"] else {},
        )

    def recent(
        self, entity: str | None = None, *, limit: int = 100, conn: Connection | None = None
    ) -> pl.DataFrame:
        """The latest batches (newest first), optionally of one entity, as a frame."""
        stmt = sa.select(*T.c).order_by(T.c.started_at.desc(), T.c.batch_uid.desc()).limit(limit)
        if entity is not None:
            stmt = stmt.where(T.c.entity == entity)
        with self._read(conn) as c:
            return read_frame(c, stmt)

    @staticmethod
    def _update(c: Connection, batch_uid: str, values: Mapping[str, Any]) -> None:
        result = c.execute(sa.update(T).where(T.c.batch_uid == batch_uid).values(dict(values)))
        if result.rowcount == 0:
            raise UnknownBatchError(batch_uid)
