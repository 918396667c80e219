"""``sync_leases``: who may write an entity's window right now.

A run takes a lease on every key it will write (for a range of days: one key per day)
before it starts, renews it while it works and releases it at the end; a crashed run's
lease runs out at ``expires_at``. Acquiring is atomic: all keys or none, and of two
processes racing for a key exactly one wins, on PostgreSQL (``INSERT ... ON CONFLICT DO
UPDATE ... WHERE expired``, keys in sorted order so two ranges never deadlock) and on
SQLite (``BEGIN IMMEDIATE``: one writer at a time).

Times are the caller's clock (naive UTC); hosts that share a database need synchronized
clocks, which a lease of minutes to hours tolerates easily.

>>> from syncflow_core.state import StateStore
>>> store = StateStore("sqlite://"); _ = store.upgrade()
>>> days = ["2025-01-01", "2025-01-02"]
>>> store.leases.acquire("items", days, "run-a", ttl_seconds=600)
True
>>> store.leases.acquire("items", ["2025-01-02", "2025-01-03"], "run-b", ttl_seconds=600)
False
>>> store.leases.release("items", days, "run-a")
2
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncflow_core.state.clock import naive_utc, utcnow
from syncflow_core.state.repositories.base import Repository, dialect_insert
from syncflow_core.state.tables import sync_leases

T = sync_leases


@dataclass(frozen=True)
class Lease:
    """A ``sync_leases`` row."""

    entity: str
    lease_key: str
    holder: str
    acquired_at: dt.datetime
    expires_at: dt.datetime


class LeaseRepository(Repository):
    """Acquire, renew, release and list leases."""

    def acquire(
        self,
        entity: str,
        keys: Sequence[str],
        holder: str,
        *,
        ttl_seconds: float,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> bool:
        """Take every key for ``holder`` until ``now + ttl_seconds``, or none of them.

        A key is free when nobody holds it, its lease has expired, or ``holder`` holds it
        already (so a retried run takes its own lease again). Returns whether it got them.
        """
        wanted = sorted(set(keys))
        if not wanted:
            return True
        now = naive_utc(now or utcnow())
        expires = now + dt.timedelta(seconds=ttl_seconds)
        rows = [
            {
                "entity": entity,
                "lease_key": key,
                "holder": holder,
                "acquired_at": now,
                "expires_at": expires,
            }
            for key in wanted
        ]
        with self._write(conn) as c:
            savepoint = c.begin_nested()
            insert = dialect_insert(c, T).values(rows)
            stmt = insert.on_conflict_do_update(
                index_elements=[T.c.entity, T.c.lease_key],
                set_={
                    "holder": insert.excluded.holder,
                    "acquired_at": insert.excluded.acquired_at,
                    "expires_at": insert.excluded.expires_at,
                },
                where=sa.or_(T.c.expires_at <= now, T.c.holder == holder),
            ).returning(T.c.lease_key)
            taken = c.execute(stmt).scalars().all()
            if len(taken) == len(wanted):
                savepoint.commit()
                return True
            savepoint.rollback()
            return False

    def renew(
        self,
        entity: str,
        keys: Sequence[str],
        holder: str,
        *,
        ttl_seconds: float,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> bool:
        """Extend ``holder``'s lease on every key to ``now + ttl_seconds``; ``False`` (and
        nothing changed) if ``holder`` no longer holds all of them."""
        wanted = sorted(set(keys))
        now = naive_utc(now or utcnow())
        stmt = (
            sa.update(T)
            .where(T.c.entity == entity, T.c.lease_key.in_(wanted), T.c.holder == holder)
            .values(expires_at=now + dt.timedelta(seconds=ttl_seconds))
        )
        with self._write(conn) as c:
            savepoint = c.begin_nested()
            if c.execute(stmt).rowcount == len(wanted):
                savepoint.commit()
                return True
            savepoint.rollback()
            return False

    def release(
        self,
        entity: str,
        keys: Sequence[str],
        holder: str,
        *,
        conn: Connection | None = None,
    ) -> int:
        """Give up ``holder``'s lease on these keys; returns how many it held."""
        stmt = sa.delete(T).where(
            T.c.entity == entity, T.c.lease_key.in_(sorted(set(keys))), T.c.holder == holder
        )
        with self._write(conn) as c:
            return int(c.execute(stmt).rowcount)

    def held(
        self,
        entity: str | None = None,
        *,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> list[Lease]:
        """Leases in force at ``now`` (expired ones are free, whatever the table says)."""
        stmt = (
            sa.select(*T.c)
            .where(T.c.expires_at > naive_utc(now or utcnow()))
            .order_by(T.c.entity, T.c.lease_key)
        )
        if entity is not None:
            stmt = stmt.where(T.c.entity == entity)
        with self._read(conn) as c:
            return [Lease(**row) for row in c.execute(stmt).mappings()]
