"""A batch described in JSON and re-attached in another process (a shim: the core has no
``resume``).

A multiprocess run opens a batch in the fetch op's process and finishes it in the track
op's; each op in between runs in a process of its own. The descriptor carries what the
batch has so far (counters, errors, stage seconds, watermarks in progress, whether the
sync state was checked). Its lease is held by ``uid@host:pid`` of the process that took
it; :func:`resume_batch` hands it over to this process in one UPDATE (only if the old
holder still holds every key), then keeps it renewed here.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import asdict
from typing import Any

import sqlalchemy as sa

from syncflow_core import plan
from syncflow_core.drift import DriftReport
from syncflow_core.env import SyncEnv
from syncflow_core.lease import Lease, LeaseHeldError, holder_name
from syncflow_core.metrics import BatchMetrics
from syncflow_core.pipeline import Batch
from syncflow_core.state.clock import utcnow
from syncflow_core.state.tables import sync_leases
from syncflow_dagster.io_managers.chunk_files import window_from_json, window_json

Descriptor = dict[str, Any]


def describe(batch: Batch) -> Descriptor:
    """Everything needed to carry ``batch`` on in another process, as JSON."""
    lease = batch.lease
    metrics = batch.metrics
    return {
        "uid": batch.uid,
        "entity": batch.entity,
        "kind": batch.kind,
        "windows": [window_json(w) for w in batch.windows],
        "lease": None if lease is None else {"holder": lease.holder, "keys": lease.keys},
        "started_at": batch.started_at.isoformat(),
        "full_rescan": batch.full_rescan,
        "metrics": {k: v for k, v in metrics.as_dict().items() if k != "success_rate"},
        "errors": [[stage, kind, n] for (stage, kind), n in batch.errors.items()],
        "high_marks": {key: mark.isoformat() for key, mark in batch.high_marks.items()},
        "seconds": dict(batch.seconds),
        "state_ready": batch.state_ready,
        "queue": batch.queue,
        "dry_run": None if batch.dry_run is None else {"sample": batch.dry_run.sample},
        "drift": None if batch.drift is None else asdict(batch.drift),
    }


def resume_batch(env: SyncEnv, descriptor: Descriptor) -> Batch:
    """The batch of ``descriptor`` in this process, its lease now held here."""
    uid, entity = descriptor["uid"], descriptor["entity"]
    lease = None
    if descriptor["lease"] is not None:
        keys = descriptor["lease"]["keys"]
        lease = Lease(env.store, entity, keys, holder_name(uid), env.settings.lease_seconds)
        take_over(env, entity, keys, descriptor["lease"]["holder"], lease.holder)
        lease.acquire()  # ours now: acquire starts renewing it
    errors: Counter[tuple[str, str]] = Counter(
        {(stage, kind): n for stage, kind, n in descriptor["errors"]}
    )
    batch = Batch(
        env=env,
        spec=env.spec(entity),
        uid=uid,
        kind=descriptor["kind"],
        windows=[window_from_json(w) for w in descriptor["windows"]],
        lease=lease,
        started_at=dt.datetime.fromisoformat(descriptor["started_at"]),
        full_rescan=descriptor["full_rescan"],
        metrics=BatchMetrics(**descriptor["metrics"]),
        errors=errors,
        high_marks={k: dt.datetime.fromisoformat(v) for k, v in descriptor["high_marks"].items()},
        seconds=dict(descriptor["seconds"]),
        state_ready=descriptor["state_ready"],
        queue=descriptor["queue"],
        drift=_drift(descriptor.get("drift")),
    )
    if descriptor.get("dry_run") is not None:  # primed again here: nothing was written since
        plan.prime(batch, descriptor["dry_run"]["sample"])
    return batch


def _drift(described: dict[str, Any] | None) -> DriftReport | None:
    if described is None:
        return None
    return DriftReport(
        added=tuple(described["added"]),
        removed=tuple(described["removed"]),
        retyped=tuple(tuple(r) for r in described["retyped"]),
        resized=tuple(tuple(r) for r in described["resized"]),
    )


def take_over(env: SyncEnv, entity: str, keys: list[str], old: str, new: str) -> None:
    """Move the lease on ``keys`` from ``old`` to ``new`` at once, or raise
    :class:`LeaseHeldError` when ``old`` no longer holds all of them."""
    if old == new:
        return
    table = sync_leases
    stmt = (
        sa.update(table)
        .where(table.c.entity == entity, table.c.lease_key.in_(keys), table.c.holder == old)
        .values(holder=new, expires_at=utcnow() + dt.timedelta(seconds=env.settings.lease_seconds))
    )
    with env.store.transaction() as conn:
        moved = conn.execute(stmt).rowcount
        if moved != len(set(keys)):  # raising inside the transaction rolls it back
            raise LeaseHeldError(entity, keys, ["another run (the lease moved on)"])
