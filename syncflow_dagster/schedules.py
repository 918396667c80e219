"""Schedules: today's partition every 15 minutes, and a daily reconciliation.

Both are off until switched on (in the UI, or ``dagster schedule start``); the runs they
launch carry one ``syncflow-entity/<entity>`` tag per entity, so ``dagster.yaml`` keeps
two runs of the same entity and partition from running at once.
"""

from collections.abc import Sequence

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from syncflow_dagster.partitions import today_key
from syncflow_dagster.tags import entity_tags, partition_tags

SYNC_CRON = "*/15 * * * *"
RECONCILE_CRON = "30 2 * * *"


def sync_today_schedule(
    job: UnresolvedAssetJobDefinition, entities: Sequence[str]
) -> dg.ScheduleDefinition:
    """``sync_all`` over today's (UTC) partition every 15 minutes."""

    @dg.schedule(
        name="sync_today_every_15_minutes",
        cron_schedule=SYNC_CRON,
        job=job,
        execution_timezone="UTC",
        description="Sync today's partition of every entity (what changed since the last run).",
    )
    def sync_today(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        key = today_key(context.scheduled_execution_time)
        return dg.RunRequest(partition_key=key, tags=partition_tags(entities, key))

    return sync_today


def reconcile_schedule(job: dg.JobDefinition, entities: Sequence[str]) -> dg.ScheduleDefinition:
    """``reconcile`` once a day."""

    @dg.schedule(
        name="reconcile_daily",
        cron_schedule=RECONCILE_CRON,
        job=job,
        execution_timezone="UTC",
        description="Reconcile every entity once a day (deletes, ScheduleHub repairs).",
    )
    def reconcile_daily(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        return dg.RunRequest(tags=entity_tags(entities, "reconcile"))

    return reconcile_daily
