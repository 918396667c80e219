"""``pending_children``: children whose parent is not in ScheduleHub yet (stage 7).

One row per child (entity, key hash): parking the same child again replaces its record
and starts its retries afresh. The first check comes ``check_seconds`` after parking, the
next ones back off exponentially (``check_seconds × 2^n`` after the n-th failed try); a
child still orphaned after ``max_tries`` tries moves to ``failed_records`` as dead
(``stage_failed='resolve'``, ``error_type='parent_missing'``, its record as
``mapped_data``) in the same transaction, so it is always counted somewhere.

>>> import polars as pl
>>> from syncflow_core.state import StateStore
>>> store = StateStore("sqlite://"); _ = store.upgrade()
>>> child = pl.DataFrame({"erp_key_hash": ["c" * 32], "parent_entity": ["orders"],
...     "parent_key_hash": ["p" * 32], "record": ['{"line_number": "1"}']})
>>> store.pending.park("order_lines", child, batch_uid="b-1")
1
>>> store.pending.for_parents("orders", ["p" * 32])["erp_key_hash"].to_list() == ["c" * 32]
True
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncflow_core.state.bulk import read_frame, staged_keys, upsert_frame
from syncflow_core.state.clock import naive_utc, utcnow
from syncflow_core.state.errors import FrameShapeError
from syncflow_core.state.repositories.base import Repository
from syncflow_core.state.tables import KEY_HASH, failed_records, pending_children

T = pending_children
REQUIRED = ("erp_key_hash", "parent_entity", "parent_key_hash", "record")
KEPT = ("entity", "erp_key_hash", "created_at")  # what parking a child again leaves alone
DEFAULT_CHECK_SECONDS = 300
DEFAULT_MAX_TRIES = 5
KeyHashes = pl.Series | Sequence[str]


class PendingChildrenRepository(Repository):
    """Park orphaned children, find the ones to try again, release or expire them."""

    def park(
        self,
        entity: str,
        frame: pl.DataFrame,
        batch_uid: str,
        *,
        check_seconds: float = DEFAULT_CHECK_SECONDS,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Park the children in ``frame`` (``erp_key_hash``, ``parent_entity``,
        ``parent_key_hash``, ``record`` as JSON text; optional ``op``, ``erp_rowversion``);
        a child already parked gets the new record. Returns how many rows were written."""
        missing = [c for c in REQUIRED if c not in frame.columns]
        if missing:
            raise FrameShapeError(f"pending children need column(s) {missing}")
        now = naive_utc(now or utcnow())
        constants = {
            "entity": entity,
            "batch_uid": batch_uid,
            "retry_count": 0,
            "next_retry_at": now + dt.timedelta(seconds=check_seconds),
            "created_at": now,
            "updated_at": now,
        }
        rows = frame.select(c for c in (*REQUIRED, "op", "erp_rowversion") if c in frame.columns)
        replaced = [c for c in (*rows.columns, *constants) if c not in KEPT]
        with self._write(conn) as c:
            return upsert_frame(
                c,
                T,
                rows,
                constants=constants,
                conflict=("entity", "erp_key_hash"),
                set_=lambda incoming: {name: incoming[name] for name in replaced},
            )

    def due(
        self,
        *,
        now: dt.datetime | None = None,
        entity: str | None = None,
        limit: int | None = None,
        conn: Connection | None = None,
    ) -> pl.DataFrame:
        """Children whose next check has come, oldest due first (every column)."""
        stmt = (
            sa.select(*T.c)
            .where(T.c.next_retry_at <= naive_utc(now or utcnow()))
            .order_by(T.c.next_retry_at, T.c.entity, T.c.erp_key_hash)
            .limit(limit)
        )
        if entity is not None:
            stmt = stmt.where(T.c.entity == entity)
        with self._read(conn) as c:
            return read_frame(c, stmt)

    def for_parents(
        self, parent_entity: str, parent_key_hashes: KeyHashes, *, conn: Connection | None = None
    ) -> pl.DataFrame:
        """Children waiting for any of these parents (to release right after they arrive)."""
        with (
            self._read(conn) as c,
            staged_keys(c, "parents", "parent_key_hash", parent_key_hashes, KEY_HASH) as keys,
        ):
            stmt = (
                sa.select(*T.c)
                .where(
                    T.c.parent_entity == parent_entity,
                    T.c.parent_key_hash.in_(sa.select(keys.c.parent_key_hash)),
                )
                .order_by(T.c.entity, T.c.erp_key_hash)
            )
            return read_frame(c, stmt)

    def keys(self, entity: str, *, conn: Connection | None = None) -> pl.Series:
        """Key hashes of ``entity``'s parked children."""
        stmt = sa.select(T.c.erp_key_hash).where(T.c.entity == entity)
        with self._read(conn) as c:
            return read_frame(c, stmt)["erp_key_hash"]

    def awaited(self, parent_entity: str, *, conn: Connection | None = None) -> pl.Series:
        """Key hashes of the ``parent_entity`` rows some parked child waits for."""
        stmt = sa.select(T.c.parent_key_hash).where(T.c.parent_entity == parent_entity).distinct()
        with self._read(conn) as c:
            return read_frame(c, stmt)["parent_key_hash"]

    def wake(
        self,
        parent_entity: str,
        parent_key_hashes: KeyHashes,
        *,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Make the children waiting for these (just synced) parents due now, so the next
        re-drive sends them; returns how many."""
        with (
            self._write(conn) as c,
            staged_keys(c, "parents", "parent_key_hash", parent_key_hashes, KEY_HASH) as keys,
        ):
            stmt = (
                sa.update(T)
                .where(
                    T.c.parent_entity == parent_entity,
                    T.c.parent_key_hash.in_(sa.select(keys.c.parent_key_hash)),
                )
                .values(next_retry_at=naive_utc(now or utcnow()))
            )
            return int(c.execute(stmt).rowcount)

    def find(self, *, entity: str | None = None, conn: Connection | None = None) -> pl.DataFrame:
        """Every parked child (of one entity), in key order."""
        stmt = sa.select(*T.c).order_by(T.c.entity, T.c.erp_key_hash)
        if entity is not None:
            stmt = stmt.where(T.c.entity == entity)
        with self._read(conn) as c:
            return read_frame(c, stmt)

    def count(self, *, entity: str | None = None, conn: Connection | None = None) -> int:
        """How many children are parked (of one entity)."""
        stmt = sa.select(sa.func.count()).select_from(T)
        if entity is not None:
            stmt = stmt.where(T.c.entity == entity)
        with self._read(conn) as c:
            return int(c.execute(stmt).scalar_one())

    def remove(self, entity: str, key_hashes: KeyHashes, *, conn: Connection | None = None) -> int:
        """Take these children out of the queue (they went through); returns how many."""
        with self._write(conn) as c, self._keys(c, key_hashes) as keys:
            stmt = sa.delete(T).where(T.c.entity == entity, self._among(keys))
            return int(c.execute(stmt).rowcount)

    def retry_later(
        self,
        entity: str,
        key_hashes: KeyHashes,
        batch_uid: str,
        *,
        check_seconds: float = DEFAULT_CHECK_SECONDS,
        max_tries: int = DEFAULT_MAX_TRIES,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> tuple[int, int]:
        """Record one more failed try of these children: after the n-th the next check is
        ``check_seconds × 2^n`` away; a child at ``max_tries`` goes to ``failed_records``
        (dead). Returns (children retried later, children expired)."""
        now = naive_utc(now or utcnow())
        tries = T.c.retry_count + 1
        next_at = sa.case(
            *(
                (tries == n, now + dt.timedelta(seconds=check_seconds * 2**n))
                for n in range(1, max_tries)
            ),
            else_=sa.null(),
        )
        with self._write(conn) as c, self._keys(c, key_hashes) as keys:
            chosen = sa.and_(T.c.entity == entity, self._among(keys))
            expired = self._to_failed(c, sa.and_(chosen, tries >= max_tries), batch_uid, now)
            stmt = (
                sa.update(T)
                .where(chosen)
                .values(retry_count=tries, next_retry_at=next_at, updated_at=now)
            )
            return int(c.execute(stmt).rowcount), expired

    def expire(
        self,
        entity: str,
        key_hashes: KeyHashes,
        batch_uid: str,
        *,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> int:
        """Move these children to ``failed_records`` (dead) now; returns how many moved."""
        now = naive_utc(now or utcnow())
        with self._write(conn) as c, self._keys(c, key_hashes) as keys:
            return self._to_failed(
                c, sa.and_(T.c.entity == entity, self._among(keys)), batch_uid, now
            )

    @staticmethod
    def _keys(c: Connection, key_hashes: KeyHashes) -> AbstractContextManager[sa.Table]:
        return staged_keys(c, "children", "erp_key_hash", key_hashes, KEY_HASH)

    @staticmethod
    def _among(keys: sa.Table) -> sa.ColumnElement[bool]:
        return T.c.erp_key_hash.in_(sa.select(keys.c.erp_key_hash))

    @staticmethod
    def _to_failed(
        c: Connection, which: sa.ColumnElement[bool], batch_uid: str, now: dt.datetime
    ) -> int:
        message = (
            sa.literal("parent ")
            + T.c.parent_entity
            + sa.literal(" with key hash ")
            + T.c.parent_key_hash
            + sa.literal(" not found in ScheduleHub")
        )
        moved = sa.select(
            sa.literal(batch_uid).label("batch_uid"),
            T.c.entity,
            T.c.erp_key_hash,
            T.c.erp_rowversion,
            sa.literal("resolve").label("stage_failed"),
            sa.literal("parent_missing").label("error_type"),
            message.label("error_message"),
            T.c.op,
            T.c.record.label("mapped_data"),
            (T.c.retry_count + 1).label("retry_count"),
            sa.literal("dead").label("status"),
            sa.literal(now, sa.DateTime()).label("created_at"),
            sa.literal(now, sa.DateTime()).label("updated_at"),
        ).where(which)
        columns = [col.name for col in moved.selected_columns]
        c.execute(sa.insert(failed_records).from_select(columns, moved))
        return int(c.execute(sa.delete(T).where(which)).rowcount)
