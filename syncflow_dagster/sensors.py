"""A sensor that launches ``redrive`` when failed records or parked children are due.

It launches nothing while a ``redrive`` run is queued or running (a queue of identical
runs would only wait on each other's leases).
"""

from collections.abc import Sequence

import dagster as dg

from syncflow_core import redrive
from syncflow_dagster.resources import SyncFlowResource
from syncflow_dagster.tags import entity_tags

UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
]
INTERVAL_SECONDS = 60


def redrive_sensor(job: dg.JobDefinition, entities: Sequence[str]) -> dg.SensorDefinition:
    """Looks at both queues every minute."""

    @dg.sensor(
        name="redrive_when_due",
        job=job,
        minimum_interval_seconds=INTERVAL_SECONDS,
        required_resource_keys={"syncflow"},
        description="Launch redrive when failed records or parked children are due.",
    )
    def redrive_when_due(
        context: dg.SensorEvaluationContext,
    ) -> dg.RunRequest | dg.SkipReason:
        running = context.instance.get_run_records(
            dg.RunsFilter(job_name=job.name, statuses=UNFINISHED), limit=1
        )
        if running:
            return dg.SkipReason(
                f"a {job.name} run is still going: {running[0].dagster_run.run_id}"
            )
        syncflow: SyncFlowResource = context.resources.syncflow
        with syncflow.open_env() as env:
            due = redrive.due(env)
        if not due.any:
            return dg.SkipReason("no failed record or parked child is due")
        return dg.RunRequest(
            tags={
                **entity_tags(entities, "redrive"),
                "syncflow/due_failed": str(due.failed),
                "syncflow/due_pending": str(due.pending),
            }
        )

    return redrive_when_due
