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

import contextvars
import datetime as dt
import queue
import threading
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

    def ahead(self, depth: int = 1, *, name: str = "stage") -> ChunkStream[T]:
        """The same stream, produced by a thread of its own up to ``depth`` items ahead.

        Everything upstream (the stages mapped so far) then runs concurrently with what
        comes downstream: Polars, the HTTP clients and the database drivers release the
        GIL, so one chunk can be fetched and normalized while the one before is being
        written. An exception upstream is raised downstream; a consumer that stops early
        stops the producer at its next item. ``depth`` bounds the extra memory.
        """
        if depth < 1:
            return self
        items: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
        stop = threading.Event()
        upstream = self._items

        def produce() -> None:
            try:
                for item in upstream:
                    while not stop.is_set():
                        try:
                            items.put(("item", item), timeout=0.1)
                            break
                        except queue.Full:
                            continue
                    if stop.is_set():
                        return
                items.put(("end", None))
            except BaseException as exc:  # handed to the consumer, raised there
                items.put(("error", exc))

        def consume() -> Iterator[T]:
            # the producer runs in a copy of the consumer's context: its log lines carry
            # the same correlation fields (``observability.log_context``)
            context = contextvars.copy_context()
            thread = threading.Thread(
                target=context.run, args=(produce,), name=f"{self.name}-{name}", daemon=True
            )
            thread.start()
            try:
                while True:
                    kind, value = items.get()
                    if kind == "end":
                        return
                    if kind == "error":
                        assert isinstance(value, BaseException)
                        raise value
                    yield value  # type: ignore[misc]
            finally:
                stop.set()
                while thread.is_alive():  # unblock a producer waiting on a full queue
                    try:
                        items.get_nowait()
                    except queue.Empty:
                        thread.join(timeout=0.1)

        return ChunkStream(self.name, consume(), self.seconds)

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


class InFlight:
    """At most ``limit`` items of a stream between :meth:`enter` and :meth:`leave`.

    Queues between threads bound each hand-over, but how many chunks wait in them depends
    on which stage is the slowest: when it is the last (the state writes of a large
    table's later slices), every queue fills, two chunks more than when it is in the
    middle (ScheduleHub). A chunk enters only when one has left: the batch's memory is
    then the same wherever the bottleneck is. The stream that enters is pulled in a
    producer thread; one that is abandoned (an error downstream) lets it go at once.

    >>> in_flight = InFlight(2)
    >>> list(in_flight.leave(in_flight.enter(ChunkStream("demo", iter("abc")))))
    ['a', 'b', 'c']
    """

    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"at least one item must be let in flight, not {limit}")
        self._free = threading.Semaphore(limit)
        self._closed = threading.Event()

    def enter(self, stream: ChunkStream[T]) -> ChunkStream[T]:
        """``stream``, each item pulled only once fewer than ``limit`` are in flight."""

        def run() -> Iterator[T]:
            iterator = iter(stream)
            while True:
                while not self._free.acquire(timeout=0.1):
                    if self._closed.is_set():
                        return
                try:
                    item = next(iterator)
                except StopIteration:
                    self._free.release()
                    return
                yield item

        return ChunkStream(stream.name, run(), stream.seconds)

    def leave(self, stream: ChunkStream[T]) -> ChunkStream[T]:
        """``stream``, each item out of flight as it is handed on."""

        def run() -> Iterator[T]:
            try:
                for item in stream:
                    self._free.release()
                    yield item
            finally:
                self._closed.set()

        return ChunkStream(stream.name, run(), stream.seconds)
