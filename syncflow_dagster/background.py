"""The background sync of a large entity in Dagster: the plan's days are the partitions of
an asset ``<entity>_background``; a schedule runs one day's slice a day; a backfill runs the
rest at once.

- ``background_sync_schedule`` (a job, one op per large entity) scans the entity
  (keys and ROWVERSIONs only), stores a plan of slices of about ``rows_per_day`` rows, and
  makes the plan's days the asset's partitions: slice *n* is day ``first_day + n``.
- The partitions are dynamic (``<entity>_background_days``): they are exactly the plan's
  days, future days included, so a backfill of them all from the UI can run the slices
  still to come. (Daily partitions end at today; they could not show tomorrow's slice.)
- ``<entity>_background_daily`` (off by default) runs, once a day, the first slice not yet
  done whose day has come: one slice a day, catching up one a day after a pause.
- A run over several days (a backfill, ``BackfillPolicy.single_run()``) syncs their slices
  one after another in one run; a slice done already costs nothing, so "select all" is
  always safe.
- Every slice holds the core's lease of the rowversion days it overlaps, the same lease a
  regular sync of those days takes: the two never write the same rows at once (the later
  fails at once with ``LeaseHeldError``, writing nothing, and the slice stays to do).
  Background runs carry ``syncflow-entity/<entity>: background``, so ``dagster.yaml``'s
  queue runs one background run of an entity at a time.

Each materialization's metadata is the plan's progress: slices and rows done, this run's
rows per second, and when the plan will be done at one slice a day or at this run's pace.
"""

import datetime as dt
import logging
import time
from collections.abc import Sequence
from typing import Any

import dagster as dg
import polars as pl
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from syncflow_core.background import plan_background, progress, run_slice
from syncflow_core.env import SyncEnv
from syncflow_core.lease import LeaseHeldError
from syncflow_core.observability import forward_logs, log_context
from syncflow_dagster.assets import GROUP
from syncflow_dagster.resources import SyncFlowResource
from syncflow_dagster.tags import entity_tags

PLAN_JOB = "background_sync_schedule"
BACKGROUND = "background"  # the value of the entity tag on background runs
DAILY_CRON = "0 1 * * *"


def asset_name(entity: str) -> str:
    return f"{entity}_background"


def job_name(entity: str) -> str:
    return f"{entity}_background_job"


def partitions_name(entity: str) -> str:
    return f"{entity}_background_days"


def background_partitions(entity: str) -> dg.DynamicPartitionsDefinition:
    """The days of ``entity``'s plan (filled by ``background_sync_schedule``)."""
    return dg.DynamicPartitionsDefinition(name=partitions_name(entity))


def plan_days(first_day: dt.date, slices: int) -> list[str]:
    """The partition keys of a plan of ``slices`` slices starting on ``first_day``.

    >>> plan_days(dt.date(2025, 1, 31), 2)
    ['2025-01-31', '2025-02-01']
    """
    return [(first_day + dt.timedelta(days=n)).isoformat() for n in range(slices)]


def slice_numbers(days: Sequence[str], keys: Sequence[str]) -> list[int]:
    """The slice numbers of partition ``keys``: their places among the plan's ``days``.

    >>> slice_numbers(["2025-01-01", "2025-01-02", "2025-01-03"], ["2025-01-03"])
    [2]
    """
    ordered = sorted(days)
    unknown = [k for k in keys if k not in ordered]
    if unknown:
        raise dg.Failure(f"{unknown} are not days of the current plan", allow_retries=False)
    return [ordered.index(k) for k in keys]


def _current_plan(env: SyncEnv, entity: str, days: Sequence[str]) -> tuple[str, pl.DataFrame]:
    plan_id = env.store.schedule.latest_plan_id(entity)
    if plan_id is None:
        raise dg.Failure(
            f"{entity} has no background plan: run the job {PLAN_JOB} first",
            allow_retries=False,
        )
    plan = env.store.schedule.plan(plan_id)
    if plan.height != len(days):
        raise dg.Failure(
            f"{entity}'s plan {plan_id} has {plan.height} slices but the asset "
            f"{len(days)} days: run {PLAN_JOB} again",
            allow_retries=False,
        )
    return plan_id, plan


def progress_metadata(
    env: SyncEnv,
    entity: str,
    plan_id: str,
    days: Sequence[str],
    *,
    rows: int,
    seconds: float,
    today: dt.date,
) -> dict[str, Any]:
    """The plan's progress as numeric metadata (plotted per materialization in the UI)."""
    done = progress(env, entity, plan_id)
    plan = env.store.schedule.plan(plan_id)
    waiting = [day for day, status in zip(sorted(days), plan["status"], strict=True)
               if status != "done"]  # fmt: skip
    rows_left = max(0.0, done["rows_planned"] - done["rows_done"])
    rate = rows / seconds if seconds > 0 else 0.0
    if waiting:  # the daily schedule runs one a day from the first waiting day (or today)
        start = max(dt.date.fromisoformat(waiting[0]), today)
        eta_daily = (start + dt.timedelta(days=len(waiting) - 1)).isoformat()
    else:
        eta_daily = "done"
    return {
        "plan_id": plan_id,
        "slices": int(done["slices"]),
        "slices_done": int(done["slices_done"]),
        "rows_planned": int(done["rows_planned"]),
        "rows_done": int(done["rows_done"]),
        "percent_done": round(100 * done["rows_done"] / done["rows_planned"], 2)
        if done["rows_planned"]
        else 100.0,
        "rows_this_run": rows,
        "seconds_this_run": round(seconds, 3),
        "rows_per_second": round(rate, 1),
        "eta_seconds_at_this_rate": round(rows_left / rate, 1) if rate > 0 else 0.0,
        "eta_day_at_one_slice_a_day": eta_daily,
        "next_day": waiting[0] if waiting else "-",
    }


def background_asset(
    entity: str, partitions: dg.DynamicPartitionsDefinition
) -> dg.AssetsDefinition:
    """``<entity>_background``: each partition is one slice of the entity's plan."""

    @dg.asset(
        name=asset_name(entity),
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        group_name=GROUP,
        kinds={"polars"},
        required_resource_keys={"syncflow"},
        description=f"Background full load of {entity}: one slice of the plan per day "
        f"(plan with the job {PLAN_JOB}).",
        metadata={"entity": entity},
    )
    def background(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        syncflow: SyncFlowResource = context.resources.syncflow
        env = syncflow.env
        days = sorted(context.instance.get_dynamic_partitions(partitions_name(entity)))
        plan_id, _ = _current_plan(env, entity, days)
        keys = list(context.partition_keys)
        rows, started = 0, time.perf_counter()
        for key, slice_no in zip(keys, slice_numbers(days, keys), strict=True):
            with (
                forward_logs(context.log, logging.INFO, settings=env.settings),
                log_context(entity=entity),
            ):
                try:
                    result = run_slice(
                        env, entity, slice_no, plan_id=plan_id, dagster_run_id=context.run.run_id
                    )
                except LeaseHeldError as exc:
                    raise dg.Failure(description=str(exc), allow_retries=False) from exc
            if result is None:
                context.log.info(f"{entity}: slice {slice_no} ({key}) is done already")
                continue
            rows += result.metrics.rows_fetched
            context.log.info(
                f"{entity}: slice {slice_no} ({key}) synced {result.metrics.rows_fetched} rows "
                f"in batch {result.batch_uid}"
            )
        metadata = progress_metadata(
            env,
            entity,
            plan_id,
            days,
            rows=rows,
            seconds=time.perf_counter() - started,
            today=dt.datetime.now(dt.UTC).date(),
        )
        return dg.MaterializeResult(metadata=metadata)

    return background


class PlanConfig(dg.Config):
    """How to cut the plan. Unset sizes come from ``SYNCFLOW_ROWS_PER_DAY`` and
    ``SYNCFLOW_BACKGROUND_CHUNK_ROWS``; ``first_day`` (YYYY-MM-DD) defaults to today (UTC).
    ``replace``: plan again although the current plan still has slices to do."""

    rows_per_day: int | None = None
    chunk_rows: int | None = None
    first_day: str | None = None
    replace: bool = False


def plan_op(entity: str) -> dg.OpDefinition:
    """Plans ``entity`` and makes the plan's days the asset's partitions."""

    @dg.op(
        name=f"plan_{entity}_background",
        required_resource_keys={"syncflow"},
        out=dg.Out(dg.Nothing),
        description=f"Plan the background sync of {entity}: slices of about rows_per_day "
        "rows from a key-and-rowversion scan; one partition of the asset per slice.",
    )
    def plan(context: dg.OpExecutionContext, config: PlanConfig) -> dg.Output[None]:
        syncflow: SyncFlowResource = context.resources.syncflow
        env = syncflow.env
        current = env.store.schedule.latest_plan_id(entity)
        if current is not None and not config.replace:
            left = env.store.schedule.plan(current).filter(pl.col("status") != "done").height
            if left:
                raise dg.Failure(
                    f"{entity}'s plan {current} still has {left} slices to do: "
                    "set replace: true to plan again",
                    allow_retries=False,
                )
        # the core's lines (the plan, the state server's advice) reach the run's log, as a
        # slice's do
        with (
            forward_logs(context.log, logging.INFO, settings=env.settings),
            log_context(entity=entity),
        ):
            summary = plan_background(
                env, entity, rows_per_day=config.rows_per_day, chunk_rows=config.chunk_rows
            )
        first = (
            dt.date.fromisoformat(config.first_day)
            if config.first_day
            else dt.datetime.now(dt.UTC).date()
        )
        days = plan_days(first, summary.slices.height)
        instance = context.instance
        # all anew, so that the partitions' order (a backfill's range) is the days' order
        for old in instance.get_dynamic_partitions(partitions_name(entity)):
            instance.delete_dynamic_partition(partitions_name(entity), old)
        instance.add_dynamic_partitions(partitions_name(entity), days)
        context.log.info(
            f"{entity}: plan {summary.plan_id}: {summary.rows} rows in "
            f"{summary.slices.height} slices, days {days[0] if days else '-'} … "
            f"{days[-1] if days else '-'}"
        )
        metadata: dict[str, Any] = {
            "plan_id": summary.plan_id,
            "rows": summary.rows,
            "slices": summary.slices.height,
            "first_day": days[0] if days else "-",
            "last_day": days[-1] if days else "-",
        }
        fit = summary.cache_fit
        if fit is not None:
            metadata.update(fit.as_metadata())
            if fit.advice:
                metadata["state_server_advice"] = fit.advice
        return dg.Output(None, metadata=metadata)

    return plan


def plan_job(ops: Sequence[dg.OpDefinition], entities: Sequence[str]) -> dg.JobDefinition:
    """``background_sync_schedule``: plan every large entity."""

    @dg.job(
        name=PLAN_JOB,
        description="Plan the background sync of every large entity (SYNCFLOW_BACKGROUND_"
        "ENTITIES): daily slices of about SYNCFLOW_ROWS_PER_DAY rows.",
        tags=entity_tags(entities, BACKGROUND),
    )
    def background_sync_schedule() -> None:
        for op in ops:
            op()

    return background_sync_schedule


def background_job(entity: str) -> UnresolvedAssetJobDefinition:
    """The job of ``<entity>_background`` (its schedule's target)."""
    return dg.define_asset_job(
        job_name(entity),
        selection=dg.AssetSelection.assets(asset_name(entity)),
        description=f"Sync slices of {entity}'s background plan (one per partition).",
        tags=entity_tags([entity], BACKGROUND),
    )


def next_day(env: SyncEnv, entity: str, days: Sequence[str], today: dt.date) -> str | None:
    """The first day, up to ``today``, whose slice is not done; ``None`` if none."""
    plan_id = env.store.schedule.latest_plan_id(entity)
    if plan_id is None:
        return None
    plan = env.store.schedule.plan(plan_id)
    if plan.height != len(days):
        return None
    for day, status in zip(sorted(days), plan["status"], strict=True):
        if status != "done" and day <= today.isoformat():
            return day
    return None


def daily_schedule(
    entity: str,
    job: UnresolvedAssetJobDefinition,
) -> dg.ScheduleDefinition:
    """``<entity>_background_daily``: one slice a day (the first due and not done)."""

    @dg.schedule(
        name=f"{entity}_background_daily",
        cron_schedule=DAILY_CRON,
        job=job,
        execution_timezone="UTC",
        required_resource_keys={"syncflow"},
        description=f"Sync one slice of {entity}'s background plan a day.",
    )
    def background_daily(
        context: dg.ScheduleEvaluationContext,
    ) -> dg.RunRequest | dg.SkipReason:
        days = context.instance.get_dynamic_partitions(partitions_name(entity))
        when = context.scheduled_execution_time or dt.datetime.now(dt.UTC)
        syncflow: SyncFlowResource = context.resources.syncflow
        with syncflow.open_env() as env:
            day = next_day(env, entity, days, when.astimezone(dt.UTC).date())
        if day is None:
            return dg.SkipReason(f"no slice of {entity}'s background plan is due")
        return dg.RunRequest(
            partition_key=day,
            tags=entity_tags([entity], BACKGROUND),
        )

    return background_daily


def background_definitions(
    entities: Sequence[str],
) -> tuple[list[dg.AssetsDefinition], list[Any], list[dg.ScheduleDefinition]]:
    """Assets, jobs (the planning job first) and schedules of the large ``entities``."""
    assets, jobs, schedules, ops = [], [], [], []
    for entity in entities:
        partitions = background_partitions(entity)
        assets.append(background_asset(entity, partitions))
        job = background_job(entity)
        jobs.append(job)
        schedules.append(daily_schedule(entity, job))
        ops.append(plan_op(entity))
    if not entities:
        return [], [], []
    return assets, [plan_job(ops, entities), *jobs], schedules
