"""One graph-backed asset per catalog entity, all built by :func:`entity_asset`.

The asset key is the entity's name; its graph is the nine stage ops and a checks op, so
the run view shows fetch → normalize → validate → map → identity → delta → resolve →
ingest → track. A child entity depends on its parents (``order_lines`` on ``orders`` and
``items``): they are materialized first. Partitions are daily rowversion windows, and a
partition range runs as one run (``BackfillPolicy.single_run()``): one batch over all the
range's windows.

The asset's own output is ``Nothing``: nothing goes through a pickling IO manager, which
would refuse the outputs of a range run. Parents reach the fetch op as ``Nothing`` inputs.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import dagster as dg

from syncflow_core.catalog import EntitySpec
from syncflow_dagster.checks import check_specs, checks_op
from syncflow_dagster.stage_ops import MIDDLE_STAGES, fetch_op, stage_op, track_op

GROUP = "syncflow"


def parents_of(spec: EntitySpec) -> list[str]:
    """The entities ``spec`` depends on, each once, in catalog order."""
    return list(dict.fromkeys(ref.entity for ref in spec.parents))


def entity_asset(spec: EntitySpec, partitions: dg.PartitionsDefinition) -> dg.AssetsDefinition:
    """The asset of one catalog entity."""
    entity, parents = spec.name, parents_of(spec)
    specs = check_specs(entity)
    fetch = fetch_op(entity, parents)
    middle = [stage_op(entity, stage, fn) for stage, fn in MIDDLE_STAGES]
    track, checks = track_op(entity), checks_op(entity)

    def compose(**upstream: Any) -> dict[str, Any]:
        handoff = fetch(**upstream)
        for op in middle:
            handoff = op(handoff)
        result, report = track(handoff)
        evaluated = checks(report)
        outputs = {
            s.get_python_identifier(): getattr(evaluated, s.get_python_identifier()) for s in specs
        }
        return {"result": result, **outputs}

    return dg.graph_asset(
        name=entity,
        description=f"ScheduleHub's {entity}, synced from the ERP view {spec.source_view} "
        f"(business key: {', '.join(spec.key)}).",
        ins={parent: dg.AssetIn(parent, dagster_type=dg.Nothing) for parent in parents},
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=specs,
        group_name=GROUP,
        kinds={"polars"},
        metadata={"source_view": spec.source_view, "business_key": ", ".join(spec.key)},
    )(_with_parameters(compose, parents))


def _with_parameters(fn: Callable[..., Any], names: list[str]) -> Callable[..., Any]:
    """``fn`` as seen by Dagster: one keyword parameter per parent (its graph inputs)."""

    def compose(**upstream: Any) -> Any:
        return fn(**upstream)

    params = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY) for name in names]
    compose.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return compose


def entity_assets(
    catalog: Mapping[str, EntitySpec], partitions: dg.PartitionsDefinition
) -> list[dg.AssetsDefinition]:
    """Every entity's asset, in catalog order."""
    return [entity_asset(spec, partitions) for spec in catalog.values()]
