"""The bridge's Prometheus metrics, one dedicated registry per batch.

A batch records into its own :class:`BridgeRegistry` (never the process-global
``prometheus_client.REGISTRY``), so what it publishes is exactly that batch and nothing a
previous batch of the same process left behind; :mod:`.publish` then adds it to the
running totals.

>>> from syncflow_core.metrics import BatchMetrics
>>> registry = BridgeRegistry()
>>> m = BatchMetrics(rows_fetched=3, rows_inserted=2, rows_failed=1)
>>> record_batch(registry, "items", "sync", "partial", m, 1.5, {("normalize", "invalid_number"): 1})
>>> registry.get_sample_value(
...     "bridge_rows_processed_total", {"entity": "items", "outcome": "inserted"})
2.0
"""

from __future__ import annotations

import time
from collections import Counter as Tally
from collections.abc import Mapping

import polars as pl
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from syncflow_core.metrics import BatchMetrics

#: ``bridge_rows_processed`` outcome label -> the ``BatchMetrics`` counter it reports.
OUTCOME_FIELDS: dict[str, str] = {
    "inserted": "rows_inserted",
    "updated": "rows_updated",
    "deleted": "rows_deleted",
    "skipped": "rows_skipped",
    "failed": "rows_failed",
    "pending": "rows_pending",
    "superseded": "rows_superseded",
}

#: Batch durations run from under a second (an empty window) to hours (a full load of a
#: million rows on a slow target); the buckets cover that range about evenly on a log scale.
DURATION_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)


class BridgeRegistry(CollectorRegistry):
    """A ``CollectorRegistry`` holding the bridge's metric families and nothing else.

    ``bridge_sync_duration_seconds`` is a histogram, not a summary: a summary's quantiles
    are computed inside one process (here: of one observation) and cannot be added up
    across batches, entities or hosts; histogram buckets are plain counters that add up,
    and ``histogram_quantile`` works on their sum.
    """

    def __init__(self) -> None:
        super().__init__(auto_describe=True)
        self.sync_total = Counter(
            "bridge_sync_total",
            "Sync batches run, by entity, kind (sync, reconcile, redrive) and final status.",
            ["entity", "kind", "status"],
            registry=self,
        )
        self.sync_duration = Histogram(
            "bridge_sync_duration_seconds",
            "Wall-clock duration of a batch, from claim to the sync_batches update.",
            ["entity", "kind"],
            buckets=DURATION_BUCKETS,
            registry=self,
        )
        self.rows_processed = Counter(
            "bridge_rows_processed",
            "Rows that left a batch, by entity and outcome (each row counted once).",
            ["entity", "outcome"],
            registry=self,
        )
        self.errors = Counter(
            "bridge_errors_total",
            "Row and request errors, by entity, stage and error type.",
            ["entity", "stage", "error_type"],
            registry=self,
        )
        self.dead_letter_depth = Gauge(
            "bridge_dead_letter_depth",
            "Rows in failed_records (the dead-letter queue) awaiting a retry, by entity.",
            ["entity"],
            registry=self,
        )
        self.pending_children_depth = Gauge(
            "bridge_pending_children_depth",
            "Rows in pending_children waiting for their parent, by entity.",
            ["entity"],
            registry=self,
        )
        self.last_sync = Gauge(
            "bridge_last_sync_timestamp_seconds",
            "Unix time at which the last batch of this entity, kind and status ended.",
            ["entity", "kind", "status"],
            registry=self,
        )


def record_batch(
    registry: BridgeRegistry,
    entity: str,
    kind: str,
    status: str,
    metrics: BatchMetrics,
    duration: float,
    errors: Mapping[tuple[str, str], int],
    *,
    finished_at: float | None = None,
) -> None:
    """Record one finished batch: its run, its duration, its rows by outcome, its errors.

    Every outcome is set, zeros included, so that each series exists from the first batch
    on (a series that appears late hides its first increase from ``increase()``).
    ``errors`` maps ``(stage, error_type)`` to a count, e.g. from :func:`error_counts`.
    """
    registry.sync_total.labels(entity, kind, status).inc()
    registry.sync_duration.labels(entity, kind).observe(duration)
    for outcome, field_name in OUTCOME_FIELDS.items():
        registry.rows_processed.labels(entity, outcome).inc(getattr(metrics, field_name))
    for (stage, error_type), count in errors.items():
        if count < 0:
            raise ValueError(f"negative error count for {stage}/{error_type}: {count}")
        registry.errors.labels(entity, stage, error_type).inc(count)
    registry.last_sync.labels(entity, kind, status).set(
        time.time() if finished_at is None else finished_at
    )


def set_depths(
    registry: BridgeRegistry, dlq: Mapping[str, int], pending: Mapping[str, int]
) -> None:
    """Set the dead-letter and pending-children depths, by entity, as read from the state."""
    for entity, depth in dlq.items():
        registry.dead_letter_depth.labels(entity).set(depth)
    for entity, depth in pending.items():
        registry.pending_children_depth.labels(entity).set(depth)


def error_counts(
    frame: pl.DataFrame,
    *,
    type_column: str = "error_type",
    stage_column: str = "stage_failed",
    stage: str | None = None,
) -> Tally[tuple[str, str]]:
    """Count a frame's errors by ``(stage, error_type)``, as :func:`record_batch` takes them.

    The stage comes from ``stage_column`` or, when ``stage`` is given, is that constant
    (ScheduleHub's answers: ``type_column="error"``, ``stage="ingest"``). Rows whose
    error type is null (successes) are not counted. Counts add with ``+``.

    >>> failed = pl.DataFrame({"stage_failed": ["normalize", "validate", "normalize"],
    ...                        "error_type": ["invalid_number", "missing_required",
    ...                                       "invalid_number"]})
    >>> dict(error_counts(failed))
    {('normalize', 'invalid_number'): 2, ('validate', 'missing_required'): 1}
    """
    stage_expr = pl.lit(stage) if stage is not None else pl.col(stage_column)
    counted = (
        frame.lazy()
        .filter(pl.col(type_column).is_not_null())
        .group_by(stage_expr.cast(pl.String).alias("stage"), pl.col(type_column).alias("type"))
        .len()
        .sort("stage", "type")
        .collect()
    )
    return Tally(
        {(s, t): n for s, t, n in counted.iter_rows()}  # one row per distinct error, not per row
    )
