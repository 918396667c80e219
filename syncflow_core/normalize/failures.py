"""Failed rows: one record per failing input row, as ``failed_records`` stores them.

The row's first failing field (catalog order, ROWVERSION last) names the error; the
message is ``SOURCE -> target: error_type: <raw value as JSON>``.
"""

from __future__ import annotations

import polars as pl

from syncflow_core.catalog.models import EntitySpec
from syncflow_core.identity import KEY_HASH, ROWVERSION, field_types, key_hash_expr
from syncflow_core.normalize.columns import FAIL_CODE, FAIL_FIELD, error_column, source_column
from syncflow_core.normalize.errors import ErrorType
from syncflow_core.normalize.fields import FieldPlan

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


def failed_records(
    spec: EntitySpec, plans: list[FieldPlan], failing: pl.DataFrame, raw_json: pl.Series
) -> pl.DataFrame:
    """One row per failing input row, the first failing field's error (FAILED_SCHEMA)."""
    if failing.height == 0:
        return pl.DataFrame(schema=FAILED_SCHEMA)
    index = pl.col(FAIL_FIELD)
    error_types = list(ErrorType)
    error_type = pl.col(FAIL_CODE).replace_strict(
        [e.code for e in error_types], [e.value for e in error_types], return_dtype=pl.String
    )
    stage = pl.col(FAIL_CODE).replace_strict(
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
        pl.when(pl.col(error_column(len(plans) - 1)) == 0)
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
            pl.when(pl.col(FAIL_FIELD) == i)
            .then(pl.col(source_column(plan.spec.source)))
            .otherwise(raw_value)
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
    keys_ok = pl.all_horizontal([pl.col(error_column(i)) == 0 for i in key_plans.values()])
    fields = {name: pl.col(name) for name in spec.key_fields}
    return pl.when(keys_ok).then(key_hash_expr(fields, types))
