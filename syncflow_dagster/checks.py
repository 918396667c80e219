"""Asset checks of each entity, evaluated right after its batch by a small op of its graph.

- ``success_rate``: the batch's success rate is at least ``SYNCFLOW_CHECK_MIN_SUCCESS_RATE``
  (ERROR when it is not);
- ``dead_letters``: the entity's unresolved failed records are at most
  ``SYNCFLOW_CHECK_MAX_DEAD_LETTERS`` (WARN);
- ``pending_age``: its oldest parked child waits at most
  ``SYNCFLOW_CHECK_MAX_PENDING_AGE_HOURS`` (WARN).

>>> [spec.name for spec in check_specs("items")]
['success_rate', 'dead_letters', 'pending_age']
"""

from collections.abc import Iterator
from typing import Any

import dagster as dg

from syncflow_core.settings import Settings
from syncflow_dagster.queues import QueueDepths, depths
from syncflow_dagster.resources import SyncFlowResource

SUCCESS_RATE, DEAD_LETTERS, PENDING_AGE = "success_rate", "dead_letters", "pending_age"
DESCRIPTIONS = {
    SUCCESS_RATE: "The batch's success rate is at least SYNCFLOW_CHECK_MIN_SUCCESS_RATE.",
    DEAD_LETTERS: "Unresolved failed records are at most SYNCFLOW_CHECK_MAX_DEAD_LETTERS.",
    PENDING_AGE: "The oldest parked child waits at most SYNCFLOW_CHECK_MAX_PENDING_AGE_HOURS.",
}


def check_specs(entity: str) -> list[dg.AssetCheckSpec]:
    """The three checks of ``entity``'s asset."""
    return [
        dg.AssetCheckSpec(name, asset=entity, description=DESCRIPTIONS[name])
        for name in (SUCCESS_RATE, DEAD_LETTERS, PENDING_AGE)
    ]


def evaluate(
    entity: str, report: dict[str, Any], queues: QueueDepths, settings: Settings
) -> list[dg.AssetCheckResult]:
    """The three results for a finished batch (``report``) and the queues as they are now."""
    key = dg.AssetKey(entity)
    rate, min_rate = float(report["success_rate"]), settings.check_min_success_rate
    age, max_age = queues.oldest_pending_hours, settings.check_max_pending_age_hours
    return [
        dg.AssetCheckResult(
            asset_key=key,
            check_name=SUCCESS_RATE,
            passed=rate >= min_rate,
            severity=dg.AssetCheckSeverity.ERROR,
            metadata={
                "success_rate": rate,
                "threshold": min_rate,
                "rows_failed": int(report["rows_failed"]),
                "batch_uid": str(report["batch_uid"]),
            },
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name=DEAD_LETTERS,
            passed=queues.dead_letters <= settings.check_max_dead_letters,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "dead_letters": queues.dead_letters,
                "threshold": settings.check_max_dead_letters,
            },
        ),
        dg.AssetCheckResult(
            asset_key=key,
            check_name=PENDING_AGE,
            passed=age is None or age <= max_age,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "oldest_pending_hours": round(age or 0.0, 3),
                "pending": queues.pending,
                "threshold_hours": max_age,
            },
        ),
    ]


def checks_op(entity: str) -> dg.OpDefinition:
    """The op that evaluates ``entity``'s checks after its track op."""
    outs = {
        spec.get_python_identifier(): dg.Out(dagster_type=None, is_required=False)
        for spec in check_specs(entity)
    }

    @dg.op(
        name=f"{entity}_checks",
        ins={"report": dg.In(dict)},
        out=outs,
        required_resource_keys={"syncflow"},
        description=f"Asset checks of {entity}: success rate, dead letters, pending age.",
    )
    def run_checks(context: dg.OpExecutionContext, report: dict[str, Any]) -> Iterator[Any]:
        syncflow: SyncFlowResource = context.resources.syncflow
        env = syncflow.env
        yield from evaluate(entity, report, depths(env.store, entity), env.settings)

    return run_checks
