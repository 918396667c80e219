"""The nine stage ops of an entity: ``<entity>_fetch`` … ``<entity>_track``.

Each is a thin shell around one core stage. fetch opens the batch on the run's partition
window and returns the fetch stream; normalize … ingest each add their stage to the
stream; track drains it (``pipeline.drain``) and reports. On the in-process executor the
work therefore happens while track pulls the stream: the run view shows every op, and the
seconds spent in each stage come from the stream (track's metadata ``seconds_<stage>``
and its log). On the multiprocess executor the Parquet IO manager drains each op's
stream into files instead, so each op does its own stage's work.
"""

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from pydantic import Field

from syncflow_core import pipeline, plan
from syncflow_core.lease import LeaseHeldError
from syncflow_core.observability import forward_logs, log_context
from syncflow_core.pipeline import Batch, BatchResult
from syncflow_core.stream import Chunk
from syncflow_core.windows import Window
from syncflow_dagster import progress
from syncflow_dagster.handoff import Handoff, StageFn
from syncflow_dagster.metadata import batch_metadata, batch_report, plan_metadata, windows_text
from syncflow_dagster.partitions import windows_for
from syncflow_dagster.publish import publish_batch
from syncflow_dagster.resources import SyncFlowResource

HANDOFF_IO = "syncflow_handoff"

#: stages 2-8 as (stage name, core function); fetch opens the batch, track drains it
MIDDLE_STAGES: tuple[tuple[str, StageFn], ...] = (
    ("normalize", pipeline.normalize),
    ("validate", pipeline.validate),
    ("map", pipeline.map_fields),
    ("identity", pipeline.identity),
    ("delta", pipeline.delta),
    ("resolve", pipeline.resolve),
    ("ingest", pipeline.ingest),
)


class FetchConfig(dg.Config):
    """``full_rescan``: fetch every row of the windows, ignoring their watermarks (the
    delta stage still skips what ScheduleHub has already).

    ``dry_run``: compute the delta and report what a sync would insert, update, skip, fail
    or park (an ``AssetObservation`` with counts and ``sample`` rows of each), writing
    nothing anywhere: no batch row, no lease, no state, no watermark, no ScheduleHub write,
    and no materialization (so the children of the asset in the same run are skipped)."""

    full_rescan: bool = False
    dry_run: bool = False
    sample: int = Field(default=plan.DEFAULT_SAMPLE, ge=0)


def fetch_op(entity: str, parents: Sequence[str]) -> dg.OpDefinition:
    """Opens the batch over the run's partition window; its output is the fetch stream.

    ``parents`` are Nothing inputs: the entity's parents are materialized first."""

    @dg.op(
        name=f"{entity}_fetch",
        ins={parent: dg.In(dg.Nothing) for parent in parents},
        out=dg.Out(Handoff, io_manager_key=HANDOFF_IO),
        required_resource_keys={"syncflow"},
        description=f"Stage 1: open a batch of {entity} on the partition window; fetch pages.",
        tags={"syncflow/stage": "fetch"},
    )
    def fetch(context: dg.OpExecutionContext, config: FetchConfig) -> Handoff:
        syncflow: SyncFlowResource = context.resources.syncflow
        windows = windows_for(context.partition_time_window)
        if config.dry_run:
            return open_dry_run(context, syncflow, entity, windows, config)
        try:
            batch = pipeline.open_batch(
                syncflow.env,
                entity,
                windows,
                dagster_run_id=context.run_id,
                full_rescan=config.full_rescan,
            )
        except LeaseHeldError as exc:
            raise dg.Failure(description=str(exc), allow_retries=False) from exc
        progress.board.start(entity)
        context.log.info(
            f"{entity}: batch {batch.uid} opened on {windows_text([w.key for w in windows])}"
        )
        return Handoff(batch, pipeline.fetch(batch))

    return fetch


def open_dry_run(
    context: dg.OpExecutionContext,
    syncflow: SyncFlowResource,
    entity: str,
    windows: list[Window],
    config: FetchConfig,
) -> Handoff:
    """A dry batch on ``windows``: the same stages, nothing written (``syncflow_core.plan``)."""
    batch = plan.dry_batch(
        syncflow.env, entity, windows, full_rescan=config.full_rescan, sample=config.sample
    )
    assert batch.dry_run is not None
    progress.board.start(entity)
    context.log.info(
        f"{entity}: dry run on {windows_text([w.key for w in windows])}, compared with "
        f"{batch.dry_run.compared_with}; nothing will be written"
    )
    return Handoff(batch, pipeline.fetch(batch))


def stage_op(entity: str, stage: str, fn: StageFn) -> dg.OpDefinition:
    """Adds ``stage`` to the stream it is handed."""

    @dg.op(
        name=f"{entity}_{stage}",
        ins={"handoff": dg.In(Handoff)},
        out=dg.Out(Handoff, io_manager_key=HANDOFF_IO),
        description=f"Stage {stage} of {entity}: {(fn.__doc__ or '').splitlines()[0]}",
        tags={"syncflow/stage": stage},
    )
    def run_stage(handoff: Handoff) -> Handoff:
        return handoff.then(stage, fn)

    return run_stage


def track_op(entity: str) -> dg.OpDefinition:
    """Stage 9: pulls the stream to its end (the batch's work), finishes the batch and
    reports: the asset's materialization metadata, and a report for the checks."""

    @dg.op(
        name=f"{entity}_track",
        ins={"handoff": dg.In(Handoff)},
        # neither comes out of a dry run: no materialization, no checks
        out={
            "result": dg.Out(dg.Nothing, is_required=False),
            "report": dg.Out(dict, io_manager_key=HANDOFF_IO, is_required=False),
        },
        description=f"Stage 9 of {entity}: commit each chunk's state; finish the batch.",
        tags={"syncflow/stage": "track"},
    )
    def track(context: dg.OpExecutionContext, handoff: Handoff) -> Iterator[Any]:
        if handoff.batch.dry_run is not None:
            yield from report_dry_run(context, handoff)
            return
        result = drain(context, handoff)
        metadata = batch_metadata(result)
        if result.status != "succeeded":
            raise dg.Failure(
                description=f"{entity} batch {result.batch_uid} {result.status}: "
                f"{result.error_message}",
                metadata=metadata,
                allow_retries=False,
            )
        yield dg.Output(None, "result", metadata=metadata)
        yield dg.Output(batch_report(result), "report")

    return track


def drain(context: dg.OpExecutionContext, handoff: Handoff) -> BatchResult:
    """Run the rest of the batch with the core's log lines in the run's event log."""
    batch, entity = handoff.batch, handoff.batch.entity
    stream = handoff.then("track", _tracked(entity)).stream
    try:
        with (
            forward_logs(
                context.log, logging.INFO, batch_uid=batch.uid, settings=batch.env.settings
            ),
            log_context(batch_uid=batch.uid, entity=entity),
        ):
            result = pipeline.drain(batch, stream)
    except BaseException:
        progress.board.finish(entity, "failed")
        raise
    work = sum(result.metrics.stage_seconds.values())
    progress.board.finish(entity, result.status, work)
    rows = result.metrics.rows_fetched
    seconds = ", ".join(f"{k} {v:.2f}" for k, v in result.metrics.stage_seconds.items())
    context.log.info(
        f"{entity}: {rows} rows, {work:.2f} s in the stages "
        f"({rows / work if work else 0:,.0f} rows/s), batch open {result.seconds:.2f} s; "
        f"seconds per stage: {seconds}"
    )
    publish_batch(batch.env, result)
    return result


def report_dry_run(
    context: dg.OpExecutionContext, handoff: Handoff
) -> Iterator[dg.AssetObservation]:
    """Pull a dry batch's stream (ingest passed it on unsent) and report the plan as an
    observation of the asset for each partition of the run: what a sync would do, not a
    materialization."""
    batch, entity = handoff.batch, handoff.batch.entity
    status = "failed"
    try:
        with (
            forward_logs(
                context.log, logging.INFO, batch_uid=batch.uid, settings=batch.env.settings
            ),
            log_context(batch_uid=batch.uid, entity=entity),
        ):
            the_plan = plan.collect(batch, handoff.stream)
        status = "succeeded"
    finally:
        progress.board.finish(entity, status, sum(handoff.stream.seconds.values()))
    counts = ", ".join(f"{n} {name}" for name, n in the_plan.counts.items())
    context.log.info(f"{entity}: dry run, nothing was written; a sync would do: {counts}")
    metadata = plan_metadata(the_plan)
    for key in context.partition_keys:
        yield dg.AssetObservation(asset_key=entity, partition=key, metadata=metadata)


def _tracked(entity: str) -> StageFn:
    def track(batch: Batch, chunk: Chunk) -> Chunk:
        done = pipeline.track(batch, chunk)
        progress.board.chunk_done(entity, done.metrics.rows_fetched)
        return done

    return track
