"""A finished batch as Dagster materialization metadata and as the checks op's report.

Every counter and the success rate are numbers, so the Dagster UI plots them per
partition; each stage's seconds is ``seconds_<stage>``. In a single-run backfill of a
range, every partition of the range gets the same (the whole batch's) metadata.

``seconds`` is the batch's wall time from opening to finishing; ``seconds_work`` the time
spent in its nine stages. On the in-process executor a run opens the batches of
independent entities together and drains them one after another, so ``rows_per_second``
is over ``seconds_work``.

>>> from syncflow_core.metrics import BatchMetrics
>>> from syncflow_core.pipeline import BatchResult
>>> r = BatchResult("uid", "items", "sync", "succeeded",
...                 BatchMetrics(rows_fetched=4, rows_inserted=4,
...                              stage_seconds={"fetch": 0.5}), {}, ["2025-01-01"], 2.0)
>>> m = batch_metadata(r)
>>> m["rows_inserted"], m["seconds_fetch"], m["seconds_work"], m["rows_per_second"]
(4, 0.5, 0.5, 8.0)
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from syncflow_core.commands.plan import plan_text
from syncflow_core.pipeline import STAGES, BatchResult
from syncflow_core.plan import SyncPlan


def batch_report(result: BatchResult) -> dict[str, Any]:
    """Plain numbers and names of a finished batch (JSON-able: it may cross processes)."""
    counters = {k: v for k, v in result.metrics.as_dict().items() if k != "stage_seconds"}
    stage_seconds = result.metrics.stage_seconds
    work = sum(stage_seconds.values())
    return {
        "batch_uid": result.batch_uid,
        "entity": result.entity,
        "kind": result.kind,
        "status": result.status,
        **counters,
        **{f"seconds_{s}": round(stage_seconds.get(s, 0.0), 4) for s in STAGES},
        "seconds": round(result.seconds, 4),
        "seconds_work": round(work, 4),
        "rows_per_second": round(result.metrics.rows_fetched / work, 1) if work > 0 else 0.0,
        "windows": list(result.windows),
        "errors": dict(result.errors),
    }


def batch_metadata(result: BatchResult) -> dict[str, Any]:
    """The metadata of a materialization: numbers as numbers, the rest as text or JSON."""
    report = batch_report(result)
    windows = report.pop("windows")
    errors = report.pop("errors")
    metadata: dict[str, Any] = dict(report)
    metadata["windows"] = windows_text(windows)
    metadata["errors"] = dg.MetadataValue.json(errors)
    metadata.update(result.schema_changes)  # ignored drift: new (or resized) source columns
    return metadata


#: a dry run's outcomes as metadata keys
WOULD = {
    "inserted": "would_insert",
    "updated": "would_update",
    "skipped": "would_skip",
    "failed": "would_fail",
    "parked": "would_park",
    "superseded": "would_supersede",
}


def plan_metadata(plan: SyncPlan) -> dict[str, Any]:
    """A dry run's plan as observation metadata: counts as numbers, the samples as the
    text ``syncflow plan`` prints, and the whole plan as JSON."""
    metadata: dict[str, Any] = {
        "dry_run": True,
        "rows_fetched": plan.counts["fetched"],
        **{WOULD[name]: plan.counts[name] for name in WOULD},
        "compared_with": plan.compared_with,
        "windows": windows_text(plan.windows),
    }
    if plan.new_source_columns:
        metadata["schema_added_columns"] = ", ".join(plan.new_source_columns)
    metadata["plan"] = dg.MetadataValue.md(f"```\n{plan_text(plan)}\n```")
    metadata["plan_json"] = dg.MetadataValue.json(plan.as_dict())
    return metadata


def windows_text(keys: list[str]) -> str:
    """``2025-01-01`` or ``2025-01-01...2025-01-07 (7 days)``."""
    if not keys:
        return "-"
    if len(keys) == 1:
        return keys[0]
    return f"{keys[0]}...{keys[-1]} ({len(keys)} days)"
