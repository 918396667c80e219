"""Ops of the whole-entity jobs: ``reconcile_<entity>`` and ``redrive_<entity>``.

Each calls one core function and reports the batch(es) it ran as output metadata. The
ops of a job are chained by ``Nothing`` inputs: reconcile runs children first (a child's
deletes before its parent's), re-drive parents first (a parent before the children
waiting for it).

(No ``from __future__ import annotations`` here: Dagster reads the ``config`` parameter's
annotation as a live type.)
"""

import dataclasses
import logging
from collections.abc import Callable, Sequence
from typing import Any

import dagster as dg

from syncflow_core import reconcile, redrive
from syncflow_core.env import SyncEnv
from syncflow_core.metrics import BatchMetrics
from syncflow_core.observability import forward_logs
from syncflow_core.pipeline import BatchResult
from syncflow_core.state.clock import utcnow
from syncflow_dagster.resources import SyncFlowResource

COUNTERS = [f.name for f in dataclasses.fields(BatchMetrics) if f.name != "stage_seconds"]


class ReconcileConfig(dg.Config):
    """``force``: delete even beyond SYNCFLOW_DELETE_GUARD_SHARE of the entity."""

    force: bool = False


def reconcile_op(entity: str) -> dg.OpDefinition:
    """Deletes what the ERP no longer has; repairs what changed in ScheduleHub."""

    @dg.op(
        name=f"reconcile_{entity}",
        ins={"after": dg.In(dg.Nothing)},
        out=dg.Out(dg.Nothing),
        required_resource_keys={"syncflow"},
        description=f"Reconcile {entity}: key-only scan of the ERP; guarded deletes; repairs.",
    )
    def run(context: dg.OpExecutionContext, config: ReconcileConfig) -> dg.Output[None]:
        def work(env: SyncEnv) -> list[BatchResult]:
            return [
                reconcile.reconcile(env, entity, force=config.force, dagster_run_id=context.run_id)
            ]

        return _run(context, work)

    return run


def redrive_op(entity: str) -> dg.OpDefinition:
    """Sends the entity's due failed records and its parked children again."""

    @dg.op(
        name=f"redrive_{entity}",
        ins={"after": dg.In(dg.Nothing)},
        out=dg.Out(dg.Nothing),
        required_resource_keys={"syncflow"},
        description=f"Re-drive {entity}: due failed records, then parked children.",
    )
    def run(context: dg.OpExecutionContext) -> dg.Output[None]:
        def work(env: SyncEnv) -> list[BatchResult]:
            now, run_id = utcnow(), context.run_id
            results = [
                redrive.redrive_failed(env, entity, now=now, dagster_run_id=run_id),
                redrive.redrive_pending(env, entity, now=now, dagster_run_id=run_id),
            ]
            return [r for r in results if r is not None]

        return _run(context, work)

    return run


def _run(
    context: dg.OpExecutionContext, work: Callable[[SyncEnv], list[BatchResult]]
) -> dg.Output[None]:
    syncflow: SyncFlowResource = context.resources.syncflow
    env = syncflow.env
    with forward_logs(context.log, logging.INFO, settings=env.settings):
        results = work(env)
    for result in results:
        m = result.metrics
        context.log.info(
            f"{result.entity} {result.kind} batch {result.batch_uid} {result.status}: "
            f"{m.rows_fetched} fetched, {m.rows_deleted} deleted, {m.rows_failed} failed, "
            f"{m.rows_pending} pending"
        )
    metadata = summary(results)
    failed = [r for r in results if r.status != "succeeded"]
    if failed:
        raise dg.Failure(
            description="; ".join(f"{r.batch_uid}: {r.error_message}" for r in failed),
            metadata=metadata,
        )
    return dg.Output(None, metadata=metadata)


def summary(results: Sequence[BatchResult]) -> dict[str, Any]:
    """Output metadata of an op's batches: counters added up, the lowest success rate."""
    metadata: dict[str, Any] = {
        "batches": len(results),
        "batch_uids": ", ".join(r.batch_uid for r in results) or "-",
    }
    for name in COUNTERS:
        metadata[name] = sum(int(getattr(r.metrics, name)) for r in results)
    metadata["success_rate"] = min((r.metrics.success_rate for r in results), default=1.0)
    metadata["seconds"] = round(sum(r.seconds for r in results), 4)
    return metadata


def chain(name: str, ops: Sequence[dg.OpDefinition], **job_args: Any) -> dg.JobDefinition:
    """A job running ``ops`` one after another."""

    @dg.job(name=name, **job_args)
    def run_in_order() -> None:
        previous = None
        for op in ops:
            previous = op(previous) if previous is not None else op()

    return run_in_order
