"""How deep an entity's two queues are, for the asset checks and the re-drive sensor.

``oldest_pending`` is a small query of our own: the core's repositories have no
"oldest parked child" call (a shim; it reads ``bridge.pending_children`` only).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import sqlalchemy as sa

from syncflow_core.state import StateStore
from syncflow_core.state.clock import utcnow
from syncflow_core.state.tables import pending_children

#: failed_records that still wait: for a retry (open) or for a person (dead)
UNRESOLVED = ("open", "dead")


@dataclass(frozen=True)
class QueueDepths:
    """An entity's dead letters and parked children."""

    dead_letters: int
    pending: int
    oldest_pending_hours: float | None


def dead_letter_depth(store: StateStore, entity: str) -> int:
    """Failed records of ``entity`` not resolved yet."""
    counts = store.failed.counts(entity=entity)
    return sum(counts.get(status, 0) for status in UNRESOLVED)


def oldest_pending(store: StateStore, entity: str) -> dt.datetime | None:
    """When the longest-waiting parked child of ``entity`` was first parked."""
    table = pending_children
    stmt = sa.select(sa.func.min(table.c.created_at)).where(table.c.entity == entity)
    with store.transaction() as conn:
        value = conn.execute(stmt).scalar_one_or_none()
    return value if isinstance(value, dt.datetime) else None


def depths(store: StateStore, entity: str, now: dt.datetime | None = None) -> QueueDepths:
    """Both queues of ``entity`` now."""
    oldest = oldest_pending(store, entity)
    age = None
    if oldest is not None:
        age = max(0.0, ((now or utcnow()) - oldest).total_seconds() / 3600)
    return QueueDepths(dead_letter_depth(store, entity), store.pending.count(entity=entity), age)
