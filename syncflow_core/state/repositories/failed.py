"""``failed_records``: the dead-letter queue. Rows come in as frames, "due" queries go out
as frames, and retry bookkeeping is set-based (one statement for many records).

Lifecycle: ``open`` (with ``next_retry_at``: due then; null: waits for a person) →
``resolved`` (a later attempt, or a later batch, got the row through) or ``dead`` (retries
spent, or given up by hand). Retry delays come from the caller (settings
``failed_retry_delays_seconds``: 60, 120, 240): the first retry comes 60 s after the failure,
the second 120 s after the first fails, the third 240 s after that; if the third fails too,
the record is dead (three retries, as the seed architecture has it). A person may make an
open or dead record due again (``make_due``, after ``replace_data`` to fix it), or close it
as resolved with a reason (``resolve_by_hand``; the reason goes to ``resolution``).

>>> import polars as pl
>>> from syncflow_core.state import StateStore
>>> store = StateStore("sqlite://"); _ = store.upgrade()
>>> failed = pl.DataFrame({"raw_data": ['{"PART_NO": null}'], "stage_failed": ["validate"],
...     "error_type": ["missing_required"], "field": ["item_number"], "error_message": ["..."]})
>>> t0 = dt.datetime(2025, 1, 1)
>>> store.failed.add("items", failed, batch_uid="b-1", now=t0, retry_delay_seconds=60)
1
>>> store.failed.due(now=t0).height, store.failed.due(now=t0 + dt.timedelta(seconds=60)).height
(0, 1)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncflow_core.state.bulk import insert_frame, key_set, read_frame, read_strings, staged
from syncflow_core.state.clock import naive_utc, utcnow
from syncflow_core.state.errors import FrameShapeError
from syncflow_core.state.repositories.base import Repository
from syncflow_core.state.tables import KEY_HASH, failed_records

T = failed_records
REQUIRED = ("stage_failed", "error_type")
DEFAULT_DELAYS = (60, 120, 240)
Ids = pl.Series | Sequence[int]


class FailedRecordRepository(Repository):
    """Add failures, find the due ones, record what became of them."""

    def add(
        self,
        entity: str,
        frame: pl.DataFrame,
        batch_uid: str,
        *,
        retry_delay_seconds: float | None = DEFAULT_DELAYS[0],
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Store one record per row of ``frame``; returns how many.

        ``frame`` has at least ``stage_failed`` and ``error_type`` and any other column of
        ``failed_records`` (``raw_data``, ``field``, ``error_message``, ``erp_key_hash``,
        ``erp_rowversion``, ``normalized_data``, ``mapped_data``, ``op``, ``uid`` …), e.g.
        ``Prepared.failed`` as it is. Unless the frame says otherwise a record is ``open``
        and due after ``retry_delay_seconds`` (``None``: not retried automatically).
        """
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise FrameShapeError(f"failed records need column(s) {missing}")
        now = naive_utc(now or utcnow())
        # 0 s is "due at once"; only None means "not retried automatically"
        due = (
            None if retry_delay_seconds is None else now + dt.timedelta(seconds=retry_delay_seconds)
        )
        defaults = {
            "status": pl.lit("open"),
            "retry_count": pl.lit(0),
            "next_retry_at": pl.lit(due, dtype=pl.Datetime("us")),
        }
        rows = frame.drop([c for c in ("id", "entity", "batch_uid") if c in frame.columns])
        rows = rows.with_columns(
            entity=pl.lit(entity),
            batch_uid=pl.lit(batch_uid),
            created_at=pl.lit(now, dtype=pl.Datetime("us")),
            updated_at=pl.lit(now, dtype=pl.Datetime("us")),
            **{name: value for name, value in defaults.items() if name not in rows.columns},
        )
        with self._write(conn) as c:
            return insert_frame(c, T, rows)

    def due(
        self,
        *,
        now: dt.datetime | None = None,
        entity: str | None = None,
        limit: int | None = None,
        conn: Connection | None = None,
    ) -> pl.DataFrame:
        """Open records whose ``next_retry_at`` has come, oldest due first (every column)."""
        stmt = (
            sa.select(*T.c)
            .where(T.c.status == "open", T.c.next_retry_at <= naive_utc(now or utcnow()))
            .order_by(T.c.next_retry_at, T.c.id)
            .limit(limit)
        )
        if entity is not None:
            stmt = stmt.where(T.c.entity == entity)
        with self._read(conn) as c:
            return read_frame(c, stmt)

    def find(
        self,
        *,
        entity: str | None = None,
        status: str | Sequence[str] | None = None,
        batch_uid: str | None = None,
        error_type: str | None = None,
        stage_failed: str | None = None,
        ids: Ids | None = None,
        limit: int | None = None,
        conn: Connection | None = None,
    ) -> pl.DataFrame:
        """Records by entity, status (one or several), originating batch, error type,
        stage and/or id, in id order, at most ``limit``."""
        stmt = sa.select(*T.c).order_by(T.c.id).limit(limit)
        filters = {
            "entity": entity,
            "batch_uid": batch_uid,
            "error_type": error_type,
            "stage_failed": stage_failed,
        }
        for column, value in filters.items():
            if value is not None:
                stmt = stmt.where(T.c[column] == value)
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            stmt = stmt.where(T.c.status.in_(statuses))
        if ids is not None:
            stmt = stmt.where(T.c.id.in_([int(i) for i in ids]))  # a person's handful of ids
        with self._read(conn) as c:
            return read_frame(c, stmt)

    def get(self, record_id: int, *, conn: Connection | None = None) -> dict[str, Any] | None:
        """One record (every column), or ``None``."""
        found = self.find(ids=[record_id], conn=conn)
        return found.row(0, named=True) if found.height else None

    def summary(
        self,
        *,
        entity: str | None = None,
        status: str | Sequence[str] | None = None,
        conn: Connection | None = None,
    ) -> pl.DataFrame:
        """How many records per entity, stage, error type, field and status (most first)."""
        keys = (T.c.entity, T.c.stage_failed, T.c.error_type, T.c.field, T.c.status)
        stmt = sa.select(*keys, sa.func.count().label("records")).group_by(*keys)
        if entity is not None:
            stmt = stmt.where(T.c.entity == entity)
        if status is not None:
            stmt = stmt.where(T.c.status.in_([status] if isinstance(status, str) else status))
        stmt = stmt.order_by(sa.desc("records"), *keys)
        with self._read(conn) as c:
            return read_frame(c, stmt)

    def counts(
        self, *, entity: str | None = None, conn: Connection | None = None
    ) -> dict[str, int]:
        """How many records per status."""
        stmt = sa.select(T.c.status, sa.func.count()).group_by(T.c.status)
        if entity is not None:
            stmt = stmt.where(T.c.entity == entity)
        with self._read(conn) as c:
            return {status: int(n) for status, n in c.execute(stmt).all()}

    def resolve(
        self,
        ids: Ids,
        *,
        batch_uid: str | None = None,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Mark these (open) records resolved: their row went through."""
        return self._close(ids, "resolved", batch_uid, now, conn)

    def mark_dead(
        self,
        ids: Ids,
        *,
        batch_uid: str | None = None,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Give these (open) records up: no more automatic retries."""
        return self._close(ids, "dead", batch_uid, now, conn)

    def open_keys(self, entity: str, *, conn: Connection | None = None) -> pl.Series:
        """Key hashes with an open record (each once)."""
        stmt = (
            sa.select(T.c.erp_key_hash)
            .where(T.c.entity == entity, T.c.status == "open", T.c.erp_key_hash.is_not(None))
            .distinct()
        )
        with self._read(conn) as c:
            return read_strings(c, stmt)

    def resolve_keys(
        self,
        entity: str,
        key_hashes: pl.Series | Sequence[str],
        *,
        batch_uid: str | None = None,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Resolve every open record of these keys: a later batch synced them, so the old
        failures are moot."""
        with (
            self._write(conn) as c,
            key_set(c, "keys", "erp_key_hash", key_hashes, KEY_HASH) as is_one_of,
        ):
            stmt = (
                sa.update(T)
                .where(
                    T.c.entity == entity,
                    T.c.status == "open",
                    is_one_of(T.c.erp_key_hash),
                )
                .values(self._closing("resolved", batch_uid, now))
            )
            return int(c.execute(stmt).rowcount)

    def record_retries(
        self,
        outcome: pl.DataFrame,
        *,
        batch_uid: str | None = None,
        delays_seconds: Sequence[float] = DEFAULT_DELAYS,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Record a failed retry of each open record in ``outcome`` (column ``id``; optional
        ``error_type``, ``error_message``, ``field``, ``stage_failed`` replace the old ones).

        ``retry_count`` goes up to k; the next retry is ``delays_seconds[k]`` after ``now``
        (``add`` scheduled the first one ``delays_seconds[0]`` after the failure); after
        ``len(delays_seconds)`` failed retries the record is dead. Returns records updated.
        """
        if "id" not in outcome.columns:
            raise FrameShapeError("record_retries needs the records' 'id' column")
        now = naive_utc(now or utcnow())
        optional = [
            c
            for c in ("error_type", "error_message", "field", "stage_failed")
            if c in outcome.columns
        ]
        rows = outcome.select("id", *optional).unique("id", keep="last")
        types: dict[str, Any] = {"id": sa.BigInteger(), **{c: T.c[c].type for c in optional}}
        attempts = T.c.retry_count + 1
        # After the k-th failed retry the next one waits delays[k]; after the last, dead.
        next_at = sa.case(
            *(
                (attempts == k, now + dt.timedelta(seconds=delays_seconds[k]))
                for k in range(1, len(delays_seconds))
            ),
            else_=sa.null(),
        )
        exhausted = attempts >= len(delays_seconds)
        with self._write(conn) as c, staged(c, "retries", rows, types) as tmp:
            values: dict[str, Any] = {
                "retry_count": attempts,
                "next_retry_at": sa.case((exhausted, sa.null()), else_=next_at),
                "status": sa.case((exhausted, "dead"), else_="open"),
                "last_batch_uid": sa.func.coalesce(batch_uid, T.c.last_batch_uid),
                "updated_at": now,
                **{name: sa.func.coalesce(tmp.c[name], T.c[name]) for name in optional},
            }
            stmt = sa.update(T).where(T.c.id == tmp.c.id, T.c.status == "open").values(values)
            return int(c.execute(stmt).rowcount)

    def replace_data(
        self,
        record_id: int,
        *,
        raw_data: str | None = None,
        mapped_data: str | None = None,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Replace a record's ``raw_data`` and/or ``mapped_data`` (JSON text): a person's fix
        before a retry. Returns records updated (0: no such id)."""
        values: dict[str, Any] = {"updated_at": naive_utc(now or utcnow())}
        if raw_data is not None:
            values["raw_data"] = raw_data
        if mapped_data is not None:
            values["mapped_data"] = mapped_data
        with self._write(conn) as c:
            stmt = sa.update(T).where(T.c.id == int(record_id)).values(values)
            return int(c.execute(stmt).rowcount)

    def make_due(
        self, ids: Ids, *, now: dt.datetime | None = None, conn: Connection | None = None
    ) -> int:
        """Make these open or dead records due at ``now`` (open again): a retry asked for
        by a person. Resolved records stay resolved. Returns records changed."""
        now = naive_utc(now or utcnow())
        with self._write(conn) as c, key_set(c, "ids", "id", ids, sa.BigInteger()) as is_one_of:
            stmt = (
                sa.update(T)
                .where(is_one_of(T.c.id), T.c.status.in_(["open", "dead"]))
                .values(status="open", next_retry_at=now, updated_at=now)
            )
            return int(c.execute(stmt).rowcount)

    def hold(
        self, ids: Ids, *, now: dt.datetime | None = None, conn: Connection | None = None
    ) -> int:
        """Open records among ``ids`` wait for a person: no automatic retry
        (``next_retry_at`` null). Returns records changed."""
        now = naive_utc(now or utcnow())
        with self._write(conn) as c, key_set(c, "ids", "id", ids, sa.BigInteger()) as is_one_of:
            stmt = (
                sa.update(T)
                .where(is_one_of(T.c.id), T.c.status == "open")
                .values(next_retry_at=None, updated_at=now)
            )
            return int(c.execute(stmt).rowcount)

    def resolve_by_hand(
        self,
        ids: Ids,
        reason: str,
        *,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Close these open or dead records as resolved by a person, with the ``reason``
        (kept in ``resolution``). Returns records changed."""
        if not reason.strip():
            raise ValueError("resolving by hand needs a reason")
        now = naive_utc(now or utcnow())
        with self._write(conn) as c, key_set(c, "ids", "id", ids, sa.BigInteger()) as is_one_of:
            stmt = (
                sa.update(T)
                .where(is_one_of(T.c.id), T.c.status.in_(["open", "dead"]))
                .values(status="resolved", next_retry_at=None, resolution=reason, updated_at=now)
            )
            return int(c.execute(stmt).rowcount)

    def _close(
        self,
        ids: Ids,
        status: str,
        batch_uid: str | None,
        now: dt.datetime | None,
        conn: Connection | None,
    ) -> int:
        with self._write(conn) as c, key_set(c, "ids", "id", ids, sa.BigInteger()) as is_one_of:
            stmt = (
                sa.update(T)
                .where(is_one_of(T.c.id), T.c.status == "open")
                .values(self._closing(status, batch_uid, now))
            )
            return int(c.execute(stmt).rowcount)

    @staticmethod
    def _closing(status: str, batch_uid: str | None, now: dt.datetime | None) -> dict[str, object]:
        return {
            "status": status,
            "next_retry_at": None,
            "last_batch_uid": sa.func.coalesce(batch_uid, T.c.last_batch_uid),
            "updated_at": naive_utc(now or utcnow()),
        }
