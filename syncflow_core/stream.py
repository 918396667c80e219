"""Chunks and chunk streams: how a batch moves through the nine stages in bounded memory.

A batch's rows travel in chunks (about ``chunk_rows`` rows each, never across a window
boundary). Each stage is a function ``(batch, chunk) -> chunk``; a :class:`ChunkStream`
applies it lazily, so the first chunk has been through every stage, and its state
committed, before the second is fetched. Memory is bounded by the chunk size, not by the
window or the table, and a crash loses at most the chunk in flight.

>>> stream = ChunkStream("demo", iter([1, 2, 3]))
>>> list(stream.map("double", lambda x: 2 * x))
[2, 4, 6]
>>> stream.seconds["double"] >= 0
True
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import polars as pl

from syncflow_core.metrics import BatchMetrics
from syncflow_core.windows import Window

T = TypeVar("T")
U = TypeVar("U")


@dataclass
class Chunk:
    """One chunk of a batch and everything the stages have made of it so far.

    ``frame`` is the chunk's rows at the current stage (raw → normalized → records →
    delta → resolved → outcomes); ``failed`` gathers the rows that left at some stage in
    the form of ``failed_records``; ``pending`` the children parked by stage 7.
    """

    window: Window | None  # None: rows taken from a queue (re-drive), not a window
    seq: int
    final: bool
    frame: pl.DataFrame
    high_rowversion: dt.datetime | None = None
    failed: list[pl.DataFrame] = field(default_factory=list)
    pending: pl.DataFrame | None = None
    #: what stages 2-4 hand each other (``syncflow_core.normalize.stages``)
    staged: Any = None
    #: rows stage 6 found unchanged (kept for a re-drive, which books them as settled)
    skipped: pl.DataFrame | None = None
    #: re-drive of failed records: rows failing stages 2-5 again (``id`` + error columns),
    #: and queue ids settled without a write (superseded duplicates)
    requeue: pl.DataFrame | None = None
    settled_ids: pl.Series | None = None
    metrics: BatchMetrics = field(default_factory=BatchMetrics)

    @property
    def rows(self) -> int:
        """Rows currently in the chunk's frame."""
        return self.frame.height


class ChunkStream(Generic[T]):
    """A lazy sequence of chunks with the seconds spent in each stage applied to it.

    The stream is consumed once. Stages keep their own time so that a run can report
    where it spent its time even though the stages interleave chunk by chunk.
    """

    def __init__(
        self,
        name: str,
        items: Iterator[T],
        seconds: dict[str, float] | None = None,
    ) -> None:
        self.name = name
        self._items = items
        self.seconds: dict[str, float] = seconds if seconds is not None else {}

    def __iter__(self) -> Iterator[T]:
        return self._items

    def map(self, stage: str, fn: Callable[[T], U]) -> ChunkStream[U]:
        """A stream of ``fn`` applied to each item, timed under ``stage``."""
        self.seconds.setdefault(stage, 0.0)

        def run() -> Iterator[U]:
            for item in self._items:
                started = time.perf_counter()
                result = fn(item)
                self.seconds[stage] += time.perf_counter() - started
                yield result

        return ChunkStream(self.name, run(), self.seconds)

    def timed_source(self, stage: str) -> ChunkStream[T]:
        """The same stream with the time spent producing each item counted as ``stage``."""
        self.seconds.setdefault(stage, 0.0)

        def run() -> Iterator[T]:
            iterator = iter(self._items)
            while True:
                started = time.perf_counter()
                try:
                    item = next(iterator)
                except StopIteration:
                    self.seconds[stage] += time.perf_counter() - started
                    return
                self.seconds[stage] += time.perf_counter() - started
                yield item

        return ChunkStream(self.name, run(), self.seconds)
