"""Leases per entity and window: two runs of the same work can never both write.

Dagster's tag concurrency limits keep queued runs apart, but ``dagster job execute`` and
other orchestrators bypass the queue, so the state store holds the lock. A lease is short
(``lease_seconds``) and renewed by a heartbeat while the batch runs, so a run that died
frees its windows soon. A holder on this same machine whose process is gone (a SIGKILL) is
recognised at once and its lease taken over.

>>> holder_name("0193a4b2-…")                    # doctest: +SKIP
'0193a4b2-…@host:4242'
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Sequence
from types import TracebackType

from syncflow_core.state import StateStore

log = logging.getLogger(__name__)


class LeaseHeldError(RuntimeError):
    """Another run holds (some of) the windows this batch needs."""

    def __init__(self, entity: str, keys: Sequence[str], holders: Sequence[str]) -> None:
        self.entity, self.keys, self.holders = entity, list(keys), list(holders)
        shown = ", ".join(self.keys[:3]) + (" …" if len(self.keys) > 3 else "")
        who = ", ".join(sorted(set(holders)))
        super().__init__(
            f"{entity} [{shown}] is being synced by another run ({who}); "
            f"nothing was written. Try again when it has finished."
        )


def holder_name(batch_uid: str) -> str:
    """``batch_uid@host:pid``: who holds a lease, readable by people and by takeover."""
    return f"{batch_uid}@{socket.gethostname()}:{os.getpid()}"


def _batch_of(holder: str) -> str:
    return holder.partition("@")[0]


def _dead_local(holder: str) -> bool:
    """Whether ``holder`` ran on this host in a process that no longer exists."""
    _, _, place = holder.rpartition("@")
    host, _, pid = place.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Lease:
    """Holds ``entity``'s ``keys`` for ``holder`` until released; renews in the background.

    Use as a context manager; :class:`LeaseHeldError` when another live run holds a key.
    """

    def __init__(
        self, store: StateStore, entity: str, keys: Sequence[str], holder: str, ttl_seconds: int
    ) -> None:
        self.store, self.entity, self.keys = store, entity, sorted(set(keys))
        self.holder, self.ttl = holder, ttl_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def acquire(self) -> Lease:
        """Take every key (taking over keys of a dead local holder), or raise."""
        leases = self.store.leases
        if not leases.acquire(self.entity, self.keys, self.holder, ttl_seconds=self.ttl):
            others = [x for x in leases.held(self.entity) if x.lease_key in self.keys]
            batch = _batch_of(self.holder)
            # the same batch in another process (a multiprocess run), or a run that died here
            dead = {
                x.holder for x in others if _batch_of(x.holder) == batch or _dead_local(x.holder)
            }
            for holder in dead:
                log.warning("%s: taking over the lease of %s", self.entity, holder)
                leases.release(self.entity, self.keys, holder)
            if not dead or not leases.acquire(
                self.entity, self.keys, self.holder, ttl_seconds=self.ttl
            ):
                taken = [x for x in leases.held(self.entity) if x.lease_key in self.keys]
                raise LeaseHeldError(
                    self.entity, [x.lease_key for x in taken], [x.holder for x in taken]
                )
        self._thread = threading.Thread(target=self._heartbeat, name="lease", daemon=True)
        self._thread.start()
        return self

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                if not self.store.leases.renew(
                    self.entity, self.keys, self.holder, ttl_seconds=self.ttl
                ):
                    self.lost = True
                    log.error("%s: lease lost to another run", self.entity)
                    return
            except Exception:  # a database blip: the next beat tries again
                log.warning("%s: lease renewal failed; retrying", self.entity, exc_info=True)

    def check(self) -> None:
        """Raise :class:`LeaseHeldError` if the heartbeat found the lease taken."""
        if self.lost:
            raise LeaseHeldError(self.entity, self.keys, ["another run (lease lost)"])

    def release(self) -> None:
        """Stop renewing and give the keys back."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        try:
            self.store.leases.release(self.entity, self.keys, self.holder)
        except Exception:  # it expires on its own
            log.warning("%s: could not release the lease; it expires", self.entity, exc_info=True)

    def __enter__(self) -> Lease:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
