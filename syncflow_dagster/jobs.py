"""The jobs: ``sync_all``, ``sync_<entity>``, ``reconcile``, ``redrive``.

``sync_all`` and ``sync_<entity>`` are partitioned asset jobs (one partition, or a range
as one run); the asset lineage puts parents before children. ``reconcile`` and
``redrive`` work on whole entities, not partitions, and carry their entity tags always.

    dagster job execute -m syncflow_dagster -j sync_all --tags '{"dagster/partition": "2025-01-03"}'
    dagster job execute -m syncflow_dagster -j reconcile
"""

from __future__ import annotations

from collections.abc import Mapping

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import UnresolvedAssetJobDefinition

from syncflow_core.catalog import EntitySpec
from syncflow_dagster.health_checks import health_check_keys
from syncflow_dagster.maintenance_ops import chain, reconcile_op, redrive_op
from syncflow_dagster.order import children_first, parents_first
from syncflow_dagster.tags import entity_tags

SYNC_ALL, RECONCILE, REDRIVE = "sync_all", "reconcile", "redrive"


def sync_job_name(entity: str) -> str:
    return f"sync_{entity}"


def sync_jobs(catalog: Mapping[str, EntitySpec]) -> list[UnresolvedAssetJobDefinition]:
    """``sync_all`` (every entity asset) and ``sync_<entity>`` for each; their runs leave
    the ``system_health`` checks out (the ``health`` job runs them)."""
    health = dg.AssetSelection.checks(*health_check_keys(list(catalog)))
    every = dg.define_asset_job(
        SYNC_ALL,
        # the background assets have their own jobs, the health checks the health job
        selection=dg.AssetSelection.assets(*catalog) - health,
        description="Sync every entity over the partition (or range), parents first.",
    )
    each = [
        dg.define_asset_job(
            sync_job_name(name),
            selection=dg.AssetSelection.assets(name) - health,
            description=f"Sync {name} over the partition (or range).",
        )
        for name in catalog
    ]
    return [every, *each]


def reconcile_job(catalog: Mapping[str, EntitySpec]) -> dg.JobDefinition:
    """Delete detection (and ScheduleHub repairs) of every entity, children first."""
    order = children_first(catalog)
    return chain(
        RECONCILE,
        [reconcile_op(name) for name in order],
        description="Reconcile every entity, children first: deletes and repairs.",
        tags=entity_tags(order, RECONCILE),
    )


def redrive_job(catalog: Mapping[str, EntitySpec]) -> dg.JobDefinition:
    """Failed records that are due, and parked children, of every entity, parents first."""
    order = parents_first(catalog)
    return chain(
        REDRIVE,
        [redrive_op(name) for name in order],
        description="Re-drive due failed records and parked children, parents first.",
        tags=entity_tags(order, REDRIVE),
    )
