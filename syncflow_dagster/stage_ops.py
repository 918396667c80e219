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

from syncflow_core import pipeline
from syncflow_core.lease import LeaseHeldError
from syncflow_core.observability import forward_logs, log_context
from syncflow_core.pipeline import Batch, BatchResult
from syncflow_core.stream import Chunk
from syncflow_dagster import progress
from syncflow_dagster.handoff import Handoff, StageFn
from syncflow_dagster.metadata import batch_metadata, batch_report, windows_text
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
    delta stage still skips what ScheduleHub has already)."""

    full_rescan: bool = False


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
        out={
            "result": dg.Out(dg.Nothing),
            "report": dg.Out(dict, io_manager_key=HANDOFF_IO),
        },
        description=f"Stage 9 of {entity}: commit each chunk's state; finish the batch.",
        tags={"syncflow/stage": "track"},
    )
    def track(context: dg.OpExecutionContext, handoff: Handoff) -> Iterator[dg.Output[Any]]:
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


def _tracked(entity: str) -> StageFn:
    def track(batch: Batch, chunk: Chunk) -> Chunk:
        done = pipeline.track(batch, chunk)
        progress.board.chunk_done(entity, done.metrics.rows_fetched)
        return done

    return track
