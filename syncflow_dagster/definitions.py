"""The SyncFlow Dagster definitions: ``dagster dev -m syncflow_dagster``.

Assets (one per catalog entity), their checks (``system_health`` among them), the jobs,
schedules and sensor, and the resources. How the stage ops run is chosen here by
environment, never in the assets:

- ``SYNCFLOW_DAGSTER_EXECUTOR=in_process`` (default): one process; handoffs in memory;
  each chunk streams through all nine stages, the stages before track running ahead of
  the state writes in threads, as in the core pipeline (``pipeline.overlap``).
- ``SYNCFLOW_DAGSTER_EXECUTOR=multiprocess``: a process per op; handoffs as Parquet files
  under ``SYNCFLOW_DAGSTER_HANDOFF_DIR``.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from syncflow_core.catalog import load_catalog
from syncflow_core.settings import Settings
from syncflow_dagster.assets import entity_assets
from syncflow_dagster.background import background_definitions
from syncflow_dagster.health_checks import health_job, health_schedule, system_health_checks
from syncflow_dagster.io_managers import HandoffMemoryIOManager, HandoffParquetIOManager
from syncflow_dagster.io_managers.parquet import default_base_dir
from syncflow_dagster.jobs import SYNC_ALL, reconcile_job, redrive_job, sync_jobs
from syncflow_dagster.order import parents_first
from syncflow_dagster.partitions import daily_partitions
from syncflow_dagster.resources import SyncFlowResource
from syncflow_dagster.schedules import reconcile_schedule, sync_today_schedule
from syncflow_dagster.sensors import redrive_sensor
from syncflow_dagster.settings import DagsterSettings
from syncflow_dagster.stage_ops import HANDOFF_IO


def execution(
    dagster_settings: DagsterSettings, syncflow: SyncFlowResource
) -> tuple[dg.ExecutorDefinition, dg.ConfigurableIOManager]:
    """The executor and the handoff IO manager that go together."""
    if dagster_settings.executor == "multiprocess":
        base = str(dagster_settings.handoff_dir or default_base_dir())
        return dg.multiprocess_executor, HandoffParquetIOManager(base_dir=base, syncflow=syncflow)
    return dg.in_process_executor, HandoffMemoryIOManager()


def build_definitions(
    settings: Settings | None = None, dagster_settings: DagsterSettings | None = None
) -> dg.Definitions:
    """Everything, from the catalog and the settings (default: the environment)."""
    settings = settings or Settings()
    catalog = load_catalog()
    order = parents_first(catalog)
    syncflow = SyncFlowResource()
    executor, handoff = execution(dagster_settings or DagsterSettings(), syncflow)
    jobs: list[Any] = sync_jobs(catalog)
    reconcile, redrive = reconcile_job(catalog), redrive_job(catalog)
    health = health_job(list(catalog))
    unknown = [e for e in settings.background_entities if e not in catalog]
    if unknown:
        raise ValueError(f"SYNCFLOW_BACKGROUND_ENTITIES names {unknown}, not in the catalog")
    background_assets, background_jobs, background_schedules = background_definitions(
        settings.background_entities
    )
    return dg.Definitions(
        assets=[*entity_assets(catalog, daily_partitions(settings)), *background_assets],
        asset_checks=[system_health_checks(list(catalog))],
        jobs=[*jobs, reconcile, redrive, health, *background_jobs],
        schedules=[
            sync_today_schedule(jobs[0], order),
            reconcile_schedule(reconcile, order),
            health_schedule(health),
            *background_schedules,
        ],
        sensors=[redrive_sensor(redrive, order)],
        resources={"syncflow": syncflow, HANDOFF_IO: handoff},
        executor=executor,
    )


defs = build_definitions()

__all__ = ["SYNC_ALL", "build_definitions", "defs"]
