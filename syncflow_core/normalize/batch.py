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
from syncflow_core.identity import (
    DATA_HASH,
    KEY_HASH,
    ROWVERSION,
    add_identity,
    encoding_needs,
    field_types,
    key_hash_expr,
)
from syncflow_core.normalize.defaults import parse_default
from syncflow_core.normalize.errors import ErrorType, Stage
from syncflow_core.normalize.fields import FieldPlan, field_plan, rowversion_field
from syncflow_core.normalize.parsers import ENGINE, parse_columns
from syncflow_core.normalize.source import Rows, read_rows

_ROW = "__row"
_FAIL_FIELD = "__fail_field"
_FAIL_CODE = "__fail_code"
# The offending value in a message is cut to this many characters (a CLOB can be long).
MESSAGE_VALUE_CHARS = 200

FAILED_SCHEMA: dict[str, pl.DataType] = {
    "raw_data": pl.String(),
    "stage_failed": pl.String(),
    "error_type": pl.String(),
    "field": pl.String(),
    "error_message": pl.String(),
    KEY_HASH: pl.String(),
    ROWVERSION: pl.Datetime("us"),
}


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
    sources = list(dict.fromkeys(p.spec.source for p in plans))
    return (
        mapped.lazy()
        .select(
            _ROW,
            *sources,
            *(p.value.alias(p.spec.target) for p in plans),
            *(p.error.alias(_error_column(i)) for i, p in enumerate(plans)),
        )
        .with_columns(_first_failure(len(plans)))
        .collect(engine=ENGINE)
    )


def _error_column(index: int) -> str:
    return f"__e{index}"


def _first_failure(count: int) -> list[pl.Expr]:
    """The first failing field (catalog order, ROWVERSION last) and its error code."""
    failing = [pl.col(_error_column(i)) > 0 for i in range(count)]
    return [
        pl.coalesce([pl.when(f).then(pl.lit(i, pl.Int32)) for i, f in enumerate(failing)]).alias(
            _FAIL_FIELD
        ),
        pl.coalesce(
            [pl.when(f).then(pl.col(_error_column(i))) for i, f in enumerate(failing)]
        ).alias(_FAIL_CODE),
    ]


def prepare(spec: EntitySpec, rows: Rows) -> Prepared:
    """Normalize, validate, map and hash ``rows`` of entity ``spec`` (stages 2-5)."""
    raw = read_rows(rows, spec.source_columns)
    plans = entity_plans(spec)
    work = run_fields(raw.frame.with_row_index(_ROW), plans)
    targets = [p.spec.target for p in plans]
    passed = work.lazy().filter(pl.col(_FAIL_FIELD).is_null()).select(_ROW, *targets)
    failing = work.filter(pl.col(_FAIL_FIELD).is_not_null())
    # Which encoders can be the simple ones is read on every row (failing rows too: a
    # superset, never wrong); the filter, the encoding and both hashes stream together.
    needs = encoding_needs(work, spec)
    records = add_identity(passed, spec, needs).collect(engine=ENGINE)
    records, superseded = _keep_newest(records)
    columns = [*spec.data_fields, KEY_HASH, DATA_HASH, ROWVERSION]
    failed = _failures(spec, plans, failing, raw.raw_json(failing[_ROW]))
    return Prepared(
        records=records.select(columns),
        failed=failed,
        superseded=superseded,
        rows_in=raw.frame.height,
        counts=_counts(raw.frame.height, failed),
    )


def _keep_newest(records: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """One row per key: the highest rowversion, then the later input row; input order kept.

    Candidates first, cheaply: rows whose 64-bit hash of the key occurs twice (sorted
    neighbours). A hash collision only adds a candidate; the exact key decides among them.
    """
    # The streaming engine leaves many chunks; sorting and hashing want one.
    keys = records.select(_ROW, KEY_HASH, ROWVERSION).rechunk()
    hashed = keys.get_column(KEY_HASH).hash()
    ordered = hashed.sort()
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    if repeated.len() == 0:
        return records, 0
    candidates = keys.filter(hashed.is_in(repeated.implode()))
    ranked = candidates.sort([KEY_HASH, ROWVERSION, _ROW])
    losers = ranked.filter(~pl.col(KEY_HASH).is_last_distinct()).get_column(_ROW)
    if losers.len() == 0:
        return records, 0
    return records.filter(~pl.col(_ROW).is_in(losers.implode())), losers.len()


def _failures(
    spec: EntitySpec, plans: list[FieldPlan], failing: pl.DataFrame, raw_json: pl.Series
) -> pl.DataFrame:
    """One row per failing input row, the first failing field's error (FAILED_SCHEMA)."""
    if failing.height == 0:
        return pl.DataFrame(schema=FAILED_SCHEMA)
    index = pl.col(_FAIL_FIELD)
    error_types = list(ErrorType)
    error_type = pl.col(_FAIL_CODE).replace_strict(
        [e.code for e in error_types], [e.value for e in error_types], return_dtype=pl.String
    )
    stage = pl.col(_FAIL_CODE).replace_strict(
        [e.code for e in error_types], [e.stage.value for e in error_types], return_dtype=pl.String
    )
    target = index.replace_strict(
        list(range(len(plans))), [p.spec.target for p in plans], return_dtype=pl.String
    )
    source = index.replace_strict(
        list(range(len(plans))), [p.spec.source for p in plans], return_dtype=pl.String
    )
    return failing.with_columns(raw_data=raw_json).select(
        pl.col("raw_data"),
        stage.alias("stage_failed"),
        error_type.alias("error_type"),
        target.alias("field"),
        _message(plans, source, target, error_type).alias("error_message"),
        _failed_key_hash(spec, plans).alias(KEY_HASH),
        pl.when(pl.col(_error_column(len(plans) - 1)) == 0)
        .then(pl.col(ROWVERSION))
        .alias(ROWVERSION),
    )


def _message(
    plans: list[FieldPlan], source: pl.Expr, target: pl.Expr, error_type: pl.Expr
) -> pl.Expr:
    """``SOURCE -> target: error_type: <raw value as JSON>``."""
    raw_value: pl.Expr = pl.lit(None, pl.String)
    for i, plan in reversed(list(enumerate(plans))):
        raw_value = (
            pl.when(pl.col(_FAIL_FIELD) == i).then(pl.col(plan.spec.source)).otherwise(raw_value)
        )
    # The JSON of a one-field struct is {"v":<value>}: cut the wrapper, keep the escaping.
    shown = (
        pl.struct(raw_value.str.slice(0, MESSAGE_VALUE_CHARS).alias("v"))
        .struct.json_encode()
        .str.slice(5)
        .str.strip_suffix("}")
    )
    return pl.concat_str(
        [source, pl.lit(" -> "), target, pl.lit(": "), error_type, pl.lit(": "), shown]
    )


def _failed_key_hash(spec: EntitySpec, plans: list[FieldPlan]) -> pl.Expr:
    """The key hash where every key field came through; null where one of them failed."""
    types = field_types(spec)
    key_plans = {p.spec.target: i for i, p in enumerate(plans) if p.spec.target in spec.key_fields}
    keys_ok = pl.all_horizontal([pl.col(_error_column(i)) == 0 for i in key_plans.values()])
    fields = {name: pl.col(name) for name in spec.key_fields}
    return pl.when(keys_ok).then(key_hash_expr(fields, types))


def _counts(rows_in: int, failed: pl.DataFrame) -> dict[str, int]:
    by_stage = dict(failed.group_by("stage_failed").len().iter_rows())
    normalized = rows_in - by_stage.get(Stage.NORMALIZE.value, 0)
    validated = normalized - by_stage.get(Stage.VALIDATE.value, 0)
    return {
        "rows_fetched": rows_in,
        "rows_normalized": normalized,
        "rows_validated": validated,
        "rows_mapped": validated - by_stage.get(Stage.MAP.value, 0),
    }
