"""``system_health``: the checks of ``syncflow health`` as an asset check on every entity asset.

Each entity asset needs the same three systems (the state database, APISmith, ScheduleHub),
so one check definition evaluates :func:`syncflow_core.health.run_checks` once and reports
the result on every selected asset. The Dagster UI then shows it where an engineer looks
first: a red check on the asset in the lineage and on its page, the failing system and
why in the check's description, and each system's status, latency and detail as metadata
(latencies as numbers, plotted over time). A sensor would only show it in its tick
history; a failed run only after a sync has already failed.

It runs on its own (the ``health`` job, the ``check_health_every_5_minutes`` schedule, or
*Execute* on the asset's *Checks* tab), never as a step of the sync jobs: a check after a
failed materialization is skipped, exactly when it is needed.

>>> [key.name for key in health_check_keys(["items", "orders"])]
['system_health', 'system_health']
"""

import re
from collections.abc import Iterator, Sequence
from typing import Any

import dagster as dg
from pydantic import Field

from syncflow_core import health
from syncflow_core.health import CheckResult
from syncflow_dagster.resources import SyncFlowResource

SYSTEM_HEALTH = "system_health"
HEALTH_JOB = "health"
HEALTH_CRON = "*/5 * * * *"
DESCRIPTION = (
    "The state database, APISmith and ScheduleHub are reachable, take SyncFlow's "
    "credentials and are at the right schema (the checks of `syncflow health`)."
)


class HealthConfig(dg.Config):
    timeout_seconds: float = Field(
        default=health.DEFAULT_TIMEOUT_SECONDS, gt=0, description="per request, no retries"
    )


def health_check_keys(entities: Sequence[str]) -> list[dg.AssetCheckKey]:
    return [dg.AssetCheckKey(dg.AssetKey(entity), SYSTEM_HEALTH) for entity in entities]


def system_health_checks(entities: Sequence[str]) -> dg.AssetChecksDefinition:
    """One ``system_health`` check per entity asset, evaluated together."""
    specs = [
        dg.AssetCheckSpec(SYSTEM_HEALTH, asset=entity, description=DESCRIPTION)
        for entity in entities
    ]

    @dg.multi_asset_check(
        specs=specs,
        name=SYSTEM_HEALTH,
        can_subset=True,
        required_resource_keys={"syncflow"},
        description=DESCRIPTION,
    )
    def system_health(
        context: dg.AssetCheckExecutionContext, config: HealthConfig
    ) -> Iterator[dg.AssetCheckResult]:
        syncflow: SyncFlowResource = context.resources.syncflow
        results = health.run_checks(
            syncflow.sync_settings(), timeout_seconds=config.timeout_seconds
        )
        summary = summarize(results)
        if all(r.ok for r in results):
            context.log.info(summary)
        else:
            context.log.error(summary)
        for key in sorted(context.selected_asset_check_keys, key=lambda k: k.asset_key.path):
            yield check_result(key.asset_key, results)

    return system_health


def check_result(asset_key: dg.AssetKey, results: Sequence[CheckResult]) -> dg.AssetCheckResult:
    """The check of one asset: passed when every system is; ERROR severity otherwise."""
    failed = [r for r in results if not r.ok]
    return dg.AssetCheckResult(
        asset_key=asset_key,
        check_name=SYSTEM_HEALTH,
        passed=not failed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=summarize(results),
        metadata=health_metadata(results),
    )


def summarize(results: Sequence[CheckResult]) -> str:
    """``all 3 systems ok`` or each failing system with its problem and detail."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return f"all {len(results)} systems ok: " + ", ".join(r.name for r in results)
    return "; ".join(
        f"{r.name} {r.status}: {r.detail.removeprefix(f'{r.problem}: ')}" for r in failed
    )


def health_metadata(results: Sequence[CheckResult]) -> dict[str, Any]:
    """Per system: ``<system>_status``, ``<system>_latency_ms``, ``<system>_detail``;
    and the table ``syncflow health`` prints."""
    metadata: dict[str, Any] = {}
    for r in results:
        slug = re.sub(r"\W+", "_", r.name.lower())
        metadata[f"{slug}_status"] = r.status
        metadata[f"{slug}_latency_ms"] = (
            round(r.latency_ms, 1) if r.latency_ms is not None else -1.0
        )
        metadata[f"{slug}_target"] = r.target
        metadata[f"{slug}_detail"] = r.detail
    metadata["systems"] = dg.MetadataValue.md(_markdown(results))
    return metadata


def _markdown(results: Sequence[CheckResult]) -> str:
    rows = ["| system | status | latency ms | target | detail |", "| --- | --- | --- | --- | --- |"]
    for r in results:
        latency = f"{r.latency_ms:.1f}" if r.latency_ms is not None else "-"
        cells = [r.name, r.status, latency, r.target, r.detail]
        rows.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(rows)


def health_job(entities: Sequence[str]) -> Any:
    """The checks alone, on every entity asset: nothing is materialized."""
    return dg.define_asset_job(
        HEALTH_JOB,
        selection=dg.AssetSelection.checks(*health_check_keys(entities)),
        description="Check the state database, APISmith and ScheduleHub (as `syncflow health`).",
    )


def health_schedule(job: Any) -> dg.ScheduleDefinition:
    """The ``health`` job every 5 minutes (off until switched on)."""
    return dg.ScheduleDefinition(
        name="check_health_every_5_minutes",
        cron_schedule=HEALTH_CRON,
        job=job,
        execution_timezone="UTC",
        description="Refresh the system_health check of every entity asset.",
    )
