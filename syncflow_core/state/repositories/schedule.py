"""``background_sync_schedule``: a large entity's full load, planned as rowversion slices
[lo, hi) worked through one by one (a plan spread over days, restartable at any slice).

>>> import polars as pl
>>> from syncflow_core.state import StateStore
>>> store = StateStore("sqlite://"); _ = store.upgrade()
>>> slices = pl.DataFrame({"rowversion_lo": [dt.datetime(2025, 1, 1), dt.datetime(2025, 1, 2)],
...     "rowversion_hi": [dt.datetime(2025, 1, 2), dt.datetime(2025, 1, 3)],
...     "planned_rows": [1000, 800]})
>>> plan_id = store.schedule.create_plan("items", slices)
>>> first = store.schedule.claim_next(plan_id, batch_uid="b-1")
>>> first.slice_no, first.status
(0, 'running')
>>> store.schedule.progress(first.id, rows=1000)
>>> store.schedule.finish_slice(first.id)
>>> store.schedule.plan(plan_id)["status"].to_list()
['done', 'planned']
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
import sqlalchemy as sa
import uuid_utils
from sqlalchemy.engine import Connection

from syncflow_core.state.bulk import insert_frame, read_frame
from syncflow_core.state.clock import naive_utc, utcnow
from syncflow_core.state.errors import FrameShapeError, StateError
from syncflow_core.state.repositories.base import Repository
from syncflow_core.state.tables import background_sync_schedule

T = background_sync_schedule
CLAIM_ATTEMPTS = 20


@dataclass(frozen=True)
class Slice:
    """A ``background_sync_schedule`` row."""

    id: int
    plan_id: str
    entity: str
    slice_no: int
    rowversion_lo: dt.datetime
    rowversion_hi: dt.datetime
    planned_rows: int
    status: str
    rows_done: int
    chunks_done: int
    batch_uid: str | None
    chunk_bounds: str | None = None
    #: planned while the entity had no state, no ScheduleHub record and no lease in force
    fresh: bool = False
    created_at: dt.datetime | None = None


def _check_slices(slices: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in ("rowversion_lo", "rowversion_hi") if c not in slices.columns]
    if missing:
        raise FrameShapeError(f"a plan's slices need column(s) {missing}")
    ordered = slices.sort("rowversion_lo").with_columns(
        pl.col("rowversion_lo", "rowversion_hi").cast(pl.Datetime("us")),
        planned_rows=pl.col("planned_rows") if "planned_rows" in slices.columns else pl.lit(0),
    )
    empty = ordered.filter(pl.col("rowversion_lo") >= pl.col("rowversion_hi")).height
    overlapping = ordered.filter(pl.col("rowversion_lo") < pl.col("rowversion_hi").shift(1)).height
    if empty or overlapping:
        raise ValueError(
            f"slices must be non-empty and disjoint ({empty} empty, {overlapping} overlapping)"
        )
    bounds = [pl.col("chunk_bounds")] if "chunk_bounds" in slices.columns else []
    return ordered.with_row_index("slice_no").select(
        pl.col("slice_no").cast(pl.Int64), "rowversion_lo", "rowversion_hi", "planned_rows", *bounds
    )


class BackgroundScheduleRepository(Repository):
    """Create plans, claim slices, report progress."""

    def create_plan(
        self,
        entity: str,
        slices: pl.DataFrame,
        *,
        fresh: bool = False,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> str:
        """Store a plan of ``slices`` (``rowversion_lo``, ``rowversion_hi``, optional
        ``planned_rows`` and ``chunk_bounds``), numbered from 0 in rowversion order;
        returns the plan id. ``fresh``: planned while the entity had no state, no
        ScheduleHub record and no lease in force; ``now`` (its ``created_at``) is when
        its scan began."""
        plan_id = str(uuid_utils.uuid7())
        now = naive_utc(now or utcnow())
        rows = _check_slices(slices).with_columns(
            plan_id=pl.lit(plan_id),
            entity=pl.lit(entity),
            status=pl.lit("planned"),
            fresh=pl.lit(fresh),
            created_at=pl.lit(now, pl.Datetime("us")),
            updated_at=pl.lit(now, pl.Datetime("us")),
        )
        with self._write(conn) as c:
            insert_frame(c, T, rows)
        return plan_id

    def plan(self, plan_id: str, *, conn: Connection | None = None) -> pl.DataFrame:
        """Every slice of the plan, in slice order (every column)."""
        stmt = sa.select(*T.c).where(T.c.plan_id == plan_id).order_by(T.c.slice_no)
        with self._read(conn) as c:
            return read_frame(c, stmt)

    def latest_plan_id(self, entity: str, *, conn: Connection | None = None) -> str | None:
        """The entity's newest plan (plan ids are UUID v7: they sort by creation)."""
        stmt = sa.select(sa.func.max(T.c.plan_id)).where(T.c.entity == entity)
        with self._read(conn) as c:
            return c.execute(stmt).scalar_one_or_none()

    def claim_next(
        self,
        plan_id: str,
        batch_uid: str,
        *,
        retry_failed: bool = True,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> Slice | None:
        """Atomically mark the plan's first waiting slice running for ``batch_uid`` and
        return it; ``None`` when no slice waits. Waiting: ``planned`` (and ``failed`` if
        ``retry_failed``). Two workers never get the same slice."""
        waiting = ("planned", "failed") if retry_failed else ("planned",)
        now = naive_utc(now or utcnow())
        candidate = (
            sa.select(T.c.id)
            .where(T.c.plan_id == plan_id, T.c.status.in_(waiting))
            .order_by(T.c.slice_no)
            .limit(1)
        )
        with self._write(conn) as c:
            for _ in range(CLAIM_ATTEMPTS):
                slice_id = c.execute(candidate).scalar_one_or_none()
                if slice_id is None:
                    return None
                claimed = c.execute(
                    sa.update(T)
                    .where(T.c.id == slice_id, T.c.status.in_(waiting))
                    .values(
                        status="running",
                        batch_uid=batch_uid,
                        error_message=None,
                        started_at=now,
                        finished_at=None,
                        updated_at=now,
                    )
                )
                if claimed.rowcount == 1:
                    return self.get(slice_id, conn=c)
        raise StateError(f"could not claim a slice of plan {plan_id} in {CLAIM_ATTEMPTS} tries")

    def start(
        self,
        slice_id: int,
        batch_uid: str,
        *,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> bool:
        """Mark slice ``slice_id`` running for ``batch_uid`` (its progress is kept: a
        re-run resumes); ``False`` if it is done already."""
        now = naive_utc(now or utcnow())
        stmt = (
            sa.update(T)
            .where(T.c.id == slice_id, T.c.status != "done")
            .values(
                status="running",
                batch_uid=batch_uid,
                error_message=None,
                started_at=sa.func.coalesce(T.c.started_at, now),
                finished_at=None,
                updated_at=now,
            )
        )
        with self._write(conn) as c:
            return bool(c.execute(stmt).rowcount)

    def get(self, slice_id: int, *, conn: Connection | None = None) -> Slice:
        """The slice ``slice_id``."""
        fields = [name for name in Slice.__dataclass_fields__]
        with self._read(conn) as c:
            row = c.execute(sa.select(*(T.c[f] for f in fields)).where(T.c.id == slice_id)).one()
        return Slice(**dict(zip(fields, row, strict=True)))

    def progress(
        self,
        slice_id: int,
        *,
        rows: int,
        chunks: int = 1,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Add ``rows`` and ``chunks`` to a running slice's progress."""
        stmt = (
            sa.update(T)
            .where(T.c.id == slice_id)
            .values(
                rows_done=T.c.rows_done + rows,
                chunks_done=T.c.chunks_done + chunks,
                updated_at=naive_utc(now or utcnow()),
            )
        )
        with self._write(conn) as c:
            c.execute(stmt)

    def finish_slice(
        self,
        slice_id: int,
        *,
        status: str = "done",
        error_message: str | None = None,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Close a slice as ``done`` or ``failed`` (with the error)."""
        if status not in ("done", "failed"):
            raise ValueError(f"a slice finishes as 'done' or 'failed', not {status!r}")
        now = naive_utc(now or utcnow())
        stmt = (
            sa.update(T)
            .where(T.c.id == slice_id)
            .values(status=status, error_message=error_message, finished_at=now, updated_at=now)
        )
        with self._write(conn) as c:
            c.execute(stmt)

    def clear_fresh(self, plan_id: str, *, conn: Connection | None = None) -> int:
        """The plan is fresh no longer (its state was rebuilt from ScheduleHub); returns
        how many slices said it."""
        stmt = sa.update(T).where(T.c.plan_id == plan_id, T.c.fresh).values(fresh=False)
        with self._write(conn) as c:
            return int(c.execute(stmt).rowcount)

    def reset_running(
        self, plan_id: str, *, now: dt.datetime | None = None, conn: Connection | None = None
    ) -> int:
        """Put slices left ``running`` by a crashed worker back to ``planned``; returns how
        many. (Call only while no worker of the plan runs: the entity's lease says so.)"""
        stmt = (
            sa.update(T)
            .where(T.c.plan_id == plan_id, T.c.status == "running")
            .values(status="planned", updated_at=naive_utc(now or utcnow()))
        )
        with self._write(conn) as c:
            return int(c.execute(stmt).rowcount)
