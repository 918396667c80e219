"""Chunk streams: lazy timed stages, and stages run ahead in a thread of their own."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from syncflow_core.stream import ChunkStream


def test_map_is_lazy_and_timed() -> None:
    seen: list[int] = []
    stream = ChunkStream("t", iter([1, 2, 3])).map("double", lambda x: seen.append(x) or 2 * x)
    assert seen == []
    assert list(stream) == [2, 4, 6]
    assert seen == [1, 2, 3]
    assert set(stream.seconds) == {"double"}


def test_ahead_keeps_order_and_overlaps_the_stages() -> None:
    def slow(x: int) -> int:
        time.sleep(0.05)
        return x

    started = time.perf_counter()
    stream = ChunkStream("t", iter(range(10))).map("up", slow).ahead(2).map("down", slow)
    assert list(stream) == list(range(10))
    elapsed = time.perf_counter() - started
    assert elapsed < 0.9  # sequential would take 1.0 s: the two stages overlapped


def test_ahead_raises_upstream_errors_downstream() -> None:
    def boom(x: int) -> int:
        if x == 3:
            raise ValueError("row 3 is bad")
        return x

    stream = ChunkStream("t", iter(range(10))).map("up", boom).ahead(1)
    got: list[int] = []
    with pytest.raises(ValueError, match="row 3 is bad"):
        got.extend(stream)
    assert got == [0, 1, 2]


def test_a_consumer_that_stops_stops_the_producer() -> None:
    produced: list[int] = []

    def source() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    stream = ChunkStream("t", source()).ahead(1)
    for item in stream:
        if item == 2:
            break
    del stream
    time.sleep(0.3)
    assert len(produced) < 10
    assert not [t for t in threading.enumerate() if t.name.startswith("t-stage")]


def test_the_producer_logs_in_the_consumers_context() -> None:
    from syncflow_core.observability.logcontext import current_log_context, log_context

    seen: list[tuple[str, object]] = []

    def note(x: int) -> int:
        seen.append((threading.current_thread().name, current_log_context().get("batch_uid")))
        return x

    stream = ChunkStream("t", iter(range(3))).map("up", note).ahead(1, name="up")
    with log_context(batch_uid="b-7"):
        assert list(stream) == [0, 1, 2]
    assert seen == [("t-up", "b-7")] * 3


def test_in_flight_bounds_the_items_between_enter_and_leave_whatever_is_slowest() -> None:
    from syncflow_core.stream import InFlight

    alive: set[int] = set()
    most = 0
    lock = threading.Lock()

    def source() -> Iterator[int]:
        nonlocal most
        for i in range(30):
            with lock:
                alive.add(i)
                most = max(most, len(alive))
            yield i

    def slow_last(x: int) -> int:
        time.sleep(0.01)
        with lock:
            alive.discard(x)
        return x

    def run(limit: int | None) -> list[int]:
        nonlocal most
        alive.clear()
        most = 0
        in_flight = InFlight(limit) if limit else None
        stream: ChunkStream[int] = ChunkStream("t", source())
        if in_flight is not None:
            stream = in_flight.enter(stream)
        stream = stream.map("a", lambda x: x).ahead(1).map("b", lambda x: x).ahead(1)
        stream = stream.map("last", slow_last)
        return list(in_flight.leave(stream) if in_flight is not None else stream)

    assert run(None) == list(range(30))
    assert most > 3  # left alone, the queues before the slow last stage fill up
    assert run(3) == list(range(30))
    assert most <= 3


def test_in_flight_lets_an_abandoned_producer_go() -> None:
    from syncflow_core.stream import InFlight

    def boom(x: int) -> int:
        if x == 2:
            raise ValueError("chunk 2 is bad")
        return x

    in_flight = InFlight(2)
    stream = in_flight.enter(ChunkStream("u", iter(range(100)))).ahead(1).map("b", boom)
    with pytest.raises(ValueError, match="chunk 2 is bad"):
        list(in_flight.leave(stream))
    time.sleep(0.3)
    assert not [t for t in threading.enumerate() if t.name.startswith("u-stage")]
    with pytest.raises(ValueError, match="at least one"):
        InFlight(0)
