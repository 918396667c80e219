"""sync_leases: all-or-none acquisition, expiry, renewal; races between threads and processes."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import threading
from concurrent.futures import ThreadPoolExecutor

from syncflow_core.state import StateStore

T0 = dt.datetime(2025, 3, 1, 12)
TTL = 600


def test_acquire_is_all_or_none(store: StateStore) -> None:
    assert store.leases.acquire("items", ["d1", "d2"], "run-a", ttl_seconds=TTL, now=T0)
    assert not store.leases.acquire("items", ["d3", "d2", "d4"], "run-b", ttl_seconds=TTL, now=T0)
    held = store.leases.held(now=T0)
    assert [(lease.lease_key, lease.holder) for lease in held] == [("d1", "run-a"), ("d2", "run-a")]
    assert held[0].expires_at == T0 + dt.timedelta(seconds=TTL)
    # Other entities and other keys are free.
    assert store.leases.acquire("orders", ["d2"], "run-b", ttl_seconds=TTL, now=T0)
    assert store.leases.acquire("items", ["d3", "d4"], "run-b", ttl_seconds=TTL, now=T0)


def test_the_holder_may_take_its_lease_again(store: StateStore) -> None:
    assert store.leases.acquire("items", ["d1"], "run-a", ttl_seconds=TTL, now=T0)
    later = T0 + dt.timedelta(seconds=60)
    assert store.leases.acquire("items", ["d1", "d2"], "run-a", ttl_seconds=TTL, now=later)
    assert {lease.acquired_at for lease in store.leases.held(now=later)} == {later}


def test_an_expired_lease_can_be_taken_over(store: StateStore) -> None:
    assert store.leases.acquire("items", ["d1"], "crashed", ttl_seconds=TTL, now=T0)
    almost = T0 + dt.timedelta(seconds=TTL - 1)
    assert not store.leases.acquire("items", ["d1"], "run-b", ttl_seconds=TTL, now=almost)
    expired = T0 + dt.timedelta(seconds=TTL)
    assert store.leases.held("items", now=expired) == []
    assert store.leases.acquire("items", ["d1"], "run-b", ttl_seconds=TTL, now=expired)
    assert [lease.holder for lease in store.leases.held(now=expired)] == ["run-b"]


def test_renew_and_release_only_for_the_holder(store: StateStore) -> None:
    store.leases.acquire("items", ["d1", "d2"], "run-a", ttl_seconds=TTL, now=T0)
    later = T0 + dt.timedelta(seconds=500)
    assert store.leases.renew("items", ["d1", "d2"], "run-a", ttl_seconds=TTL, now=later)
    assert {lease.expires_at for lease in store.leases.held(now=later)} == {
        later + dt.timedelta(seconds=TTL)
    }
    assert not store.leases.renew("items", ["d1", "d2"], "run-b", ttl_seconds=TTL, now=later)
    assert not store.leases.renew("items", ["d1", "d9"], "run-a", ttl_seconds=1, now=later)
    assert {lease.expires_at for lease in store.leases.held(now=later)} == {
        later + dt.timedelta(seconds=TTL)
    }  # a failed renewal changed nothing
    assert store.leases.release("items", ["d1", "d2"], "run-b") == 0
    assert store.leases.release("items", ["d1", "d2"], "run-a") == 2
    assert store.leases.acquire("items", ["d1"], "run-b", ttl_seconds=TTL, now=later)


def test_threads_racing_for_a_key_exactly_one_wins(state_url: str) -> None:
    workers, rounds = 6, 15
    barrier = threading.Barrier(workers)
    stores = [StateStore(state_url) for _ in range(workers)]

    def contend(worker: int) -> list[bool]:
        wins = []
        for r in range(rounds):
            barrier.wait()
            # Overlapping multi-day ranges: worker w asks for days r..r+w (all share day r).
            keys = [f"{r:03d}-{d}" for d in range(worker + 1)]
            wins.append(stores[worker].leases.acquire("items", keys, f"w{worker}", ttl_seconds=TTL))
        return wins

    try:
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(contend, range(workers)))
        for r in range(rounds):
            assert sum(results[w][r] for w in range(workers)) == 1, f"round {r}"
        held = stores[0].leases.held("items")
        holders = {lease.lease_key: lease.holder for lease in held}
        for r in range(rounds):
            winner = next(w for w in range(workers) if results[w][r])
            # the winner holds all its keys, the losers none
            round_keys = {k: h for k, h in holders.items() if k.startswith(f"{r:03d}-")}
            assert round_keys == {f"{r:03d}-{d}": f"w{winner}" for d in range(winner + 1)}
    finally:
        for s in stores:
            s.dispose()


def _process_contender(url: str, worker: int, rounds: int, barrier: object, out: object) -> None:
    with StateStore(url) as store:
        for r in range(rounds):
            barrier.wait()  # type: ignore[attr-defined]
            won = store.leases.acquire("items", [f"p{r:03d}"], f"proc{worker}", ttl_seconds=TTL)
            out.put((worker, r, won))  # type: ignore[attr-defined]


def test_processes_racing_for_a_key_exactly_one_wins(state_url: str) -> None:
    workers, rounds = 4, 8
    context = multiprocessing.get_context("spawn")
    barrier, out = context.Barrier(workers), context.Queue()
    processes = [
        context.Process(target=_process_contender, args=(state_url, w, rounds, barrier, out))
        for w in range(workers)
    ]
    for process in processes:
        process.start()
    results = [out.get(timeout=120) for _ in range(workers * rounds)]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    for r in range(rounds):
        assert sum(won for _, rr, won in results if rr == r) == 1, f"round {r}"
