"""Stages 2-5 in one call: ``prepare(spec, rows) -> Prepared``.

Every input row ends in exactly one place: a record, a failure, or superseded by a
newer occurrence of its business key (``rows_in == records.height + failed.height +
superseded``).

>>> from syncflow_core.catalog import load_catalog
>>> items = load_catalog()["items"]
>>> p = prepare(items, [
...     {"PART_NO": " part-1 ", "DESCRIPTION": "Widget", "LIST_PRICE": "1,000.50",
...      "ROWVERSION": "2025-12-08 10:30:00.123456"},
...     {"PART_NO": "P2", "DESCRIPTION": "Bolt", "LEAD_TIME": "1.5",
...      "ROWVERSION": "2025-12-08 10:30:00"},
... ])
>>> p.records.select("item_number", "uom", "list_price", "lead_time_days").rows()
[('PART-1', 'EA', 1000.5, 0)]
>>> p.failed.select("stage_failed", "error_type", "field").rows()
[('normalize', 'invalid_integer', 'lead_time_days')]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from syncflow_core.catalog.models import EntitySpec, FieldSpec
from syncflow_core.identity import ROWVERSION
from syncflow_core.normalize.columns import (
    FAIL_CODE,
    FAIL_FIELD,
    ROW,
    error_column,
    source_column,
)
from syncflow_core.normalize.defaults import parse_default
from syncflow_core.normalize.fields import FieldPlan, field_plan, rowversion_field
from syncflow_core.normalize.parsers import ENGINE, parse_columns
from syncflow_core.normalize.source import Rows


@dataclass(frozen=True)
class Prepared:
    """Stages 2-5 of one batch: the records for stage 6 and the failed rows.

    ``records``: target fields in catalog order, typed, then ``erp_key_hash``,
    ``erp_data_hash``, ``erp_rowversion``; one row per business key. ``failed``: one
    row per failing input row (``FAILED_SCHEMA``). ``counts``: each stage's survivors
    before deduplication, as ``sync_batches`` counts them.
    """

    records: pl.DataFrame
    failed: pl.DataFrame
    superseded: int
    rows_in: int
    counts: dict[str, int] = field(default_factory=dict)


def entity_fields(spec: EntitySpec) -> tuple[FieldSpec, ...]:
    """The catalog's fields, then ROWVERSION: the order in which a row's errors count."""
    return (*spec.fields, rowversion_field(spec))


def entity_plans(spec: EntitySpec) -> list[FieldPlan]:
    """One plan per field of ``entity_fields(spec)``."""
    return [
        field_plan(
            f,
            i,
            required=spec.is_required(f) or f.target == ROWVERSION,
            default=parse_default(f, source_timezone=spec.source_timezone),
            source_timezone=spec.source_timezone,
        )
        for i, f in enumerate(entity_fields(spec))
    ]


def run_fields(frame: pl.DataFrame, plans: list[FieldPlan]) -> pl.DataFrame:
    """Layers 1-5 of every field: the row index, sources, final values and error codes."""
    parsed = parse_columns(frame, {p.name: p.parse for p in plans})
    # The slow paths' results are gathered back inside this step, fused with layer 5.
    mapped = parsed.frame.with_columns(
        *(p.mapped(parsed.values[p.name]).alias(f"{p.name}mapped") for p in plans),
        *(parsed.errors[p.name].alias(f"{p.name}error") for p in plans),
    )
    sources = [
        pl.col(s).alias(source_column(s)) for s in dict.fromkeys(p.spec.source for p in plans)
    ]
    return (
        mapped.lazy()
        .select(
            ROW,
            *sources,
            *(p.value.alias(p.spec.target) for p in plans),
            *(p.error.alias(error_column(i)) for i, p in enumerate(plans)),
        )
        .with_columns(_first_failure(len(plans)))
        .collect(engine=ENGINE)
    )


def _first_failure(count: int) -> list[pl.Expr]:
    """The first failing field (catalog order, ROWVERSION last) and its error code."""
    failing = [pl.col(error_column(i)) > 0 for i in range(count)]
    return [
        pl.coalesce([pl.when(f).then(pl.lit(i, pl.Int32)) for i, f in enumerate(failing)]).alias(
            FAIL_FIELD
        ),
        pl.coalesce(
            [pl.when(f).then(pl.col(error_column(i))) for i, f in enumerate(failing)]
        ).alias(FAIL_CODE),
    ]


def prepare(spec: EntitySpec, rows: Rows, *, keep_row: bool = False) -> Prepared:
    """Normalize, validate, map and hash ``rows`` of entity ``spec`` (stages 2-5).

    ``keep_row``: ``records`` and ``failed`` keep each input row's position (``ROW``), so
    a caller can map results back to its rows (a re-drive of failed records does).
    """
    from syncflow_core.normalize import stages

    staged = stages.normalize(spec, rows)
    passed, failed = stages.validate(spec, staged)
    records, superseded = stages.identify(spec, stages.map_fields(spec, passed), keep_row=keep_row)
    return Prepared(
        records=records,
        failed=failed if keep_row else failed.drop(ROW),
        superseded=superseded,
        rows_in=staged.rows_in,
        counts=stages.stage_counts(staged.rows_in, failed),
    )
