"""Where each entity's batch is, chunk by chunk, for a live progress display.

The stage ops note every chunk as it enters a stage (a dict write per chunk and stage, so
free next to the stage itself); a display in the same process, such as ``syncflow demo``'s,
reads :data:`board`. Nothing reads it in a normal Dagster run.

>>> b = ProgressBoard()
>>> b.start("items")
>>> b.snapshot()["items"].stage
'fetch'
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Protocol


class _Sized(Protocol):
    @property
    def rows(self) -> int: ...


@dataclass(frozen=True)
class EntityProgress:
    """One entity's batch as last seen."""

    stage: str = "fetch"
    chunks: int = 0
    rows_fetched: int = 0
    rows_done: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None
    status: str = "running"
    #: seconds in the nine stages, once finished (batches of one run interleave)
    work_seconds: float | None = None

    @property
    def seconds(self) -> float:
        if self.work_seconds is not None:
            return self.work_seconds
        return (self.finished or time.monotonic()) - self.started


class ProgressBoard:
    """Thread-safe latest state per entity."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entities: dict[str, EntityProgress] = {}

    def start(self, entity: str) -> None:
        """A batch of ``entity`` opened."""
        with self._lock:
            self._entities[entity] = EntityProgress()

    def enter(self, entity: str, stage: str, chunk: _Sized) -> None:
        """A chunk enters ``stage`` (a chunk entering normalize has been fetched)."""
        with self._lock:
            now = self._entities.get(entity) or EntityProgress()
            if stage == "normalize":
                now = replace(
                    now, chunks=now.chunks + 1, rows_fetched=now.rows_fetched + chunk.rows
                )
            self._entities[entity] = replace(now, stage=stage)

    def chunk_done(self, entity: str, rows: int) -> None:
        """A chunk of ``rows`` fetched rows is through track."""
        with self._lock:
            now = self._entities.get(entity) or EntityProgress()
            self._entities[entity] = replace(now, rows_done=now.rows_done + rows)

    def finish(self, entity: str, status: str, work_seconds: float | None = None) -> None:
        """The batch of ``entity`` finished (after ``work_seconds`` in its stages)."""
        with self._lock:
            now = self._entities.get(entity) or EntityProgress()
            self._entities[entity] = replace(
                now,
                stage="done",
                finished=time.monotonic(),
                status=status,
                work_seconds=work_seconds,
            )

    def snapshot(self) -> dict[str, EntityProgress]:
        with self._lock:
            return dict(self._entities)

    def clear(self) -> None:
        with self._lock:
            self._entities.clear()


board = ProgressBoard()
