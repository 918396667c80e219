"""Layers 1-4 per column: a dense fast path over the whole column, and a slow path on
the rows it left.

Every parser (``ParsePlan``) has a fast path of a few cheap kernels that read the common
forms, and a slow path (``slow``) that runs the full layers only on the rows the fast
path left. Polars string kernels cost about as much on a null as on a value, so the slow
rows are filtered out into a compact frame; the slow paths of all columns run as one
``pl.collect_all`` (in parallel, no Python per row) and their results are gathered back
to their rows (``parse_columns``).

Dense work is split into steps of named columns, materialized one step at a time: Polars
does not share a subexpression used twice inside a ``when`` chain, so each costly column
is computed once and then read freely.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Literal

import polars as pl

from syncflow_core.catalog.models import FieldSpec, ValueType
from syncflow_core.normalize.datetimes import (
    DATETIME,
    fast_datetime,
    fast_guard,
    in_year_range,
    to_utc,
)
from syncflow_core.normalize.errors import ErrorType, error_code, no_error
from syncflow_core.normalize.slow import slow_datetime, slow_float, slow_integer, slow_string
from syncflow_core.normalize.strings import CASE_TRANSFORMS, needs_cleaning

Step = dict[str, pl.Expr]
SlowPath = Callable[[pl.LazyFrame], pl.LazyFrame]

DTYPES: dict[ValueType, pl.DataType] = {
    ValueType.STRING: pl.String(),
    ValueType.INTEGER: pl.Int64(),
    ValueType.FLOAT: pl.Float64(),
    ValueType.DATETIME: DATETIME,
    ValueType.BOOLEAN: pl.Boolean(),
}
# The streaming engine splits rows into morsels over all cores, which suits these
# elementwise steps far better than one thread per expression.
ENGINE: Literal["streaming"] = "streaming"


@dataclass(frozen=True)
class ParsePlan:
    """Layers 1-4 of one column: a dense fast path, then a slow path on the rows it left."""

    raw: pl.Expr
    dtype: pl.DataType
    slow_rows: pl.Expr  # Boolean over the dense columns: rows the slow path reads
    slow: SlowPath
    fast_value: pl.Expr  # the value where the fast path read it (null elsewhere)
    fast_error: pl.Expr = field(default_factory=no_error)
    dense: tuple[Step, ...] = ()
    slow_fails: bool = True  # False: the slow path never reports an error


def plan_string(raw: pl.Expr, name: str, transforms: tuple[str, ...] = ()) -> ParsePlan:
    """Layer 2 (strings never fail), then the string ``transforms`` (upper, lower) of
    layer 5: only the values that either can change are touched, on a compact frame."""
    slow_rows = needs_cleaning(raw, upper="upper" in transforms, lower="lower" in transforms)
    slow = partial(slow_string, transforms=transforms)
    return ParsePlan(raw, pl.String(), slow_rows, slow, raw, slow_fails=False)


def plan_float(raw: pl.Expr, name: str) -> ParsePlan:
    """Polars' cast reads plain numbers (and only those); the grammar reads the rest."""
    fast = pl.col(f"{name}fast")
    fast_ok = fast.is_finite().fill_null(False)
    return ParsePlan(
        raw,
        pl.Float64(),
        slow_rows=raw.is_not_null() & ~fast_ok,
        slow=slow_float,
        fast_value=pl.when(fast_ok).then(fast),
        dense=({f"{name}fast": raw.cast(pl.Float64, strict=False)},),
    )


def plan_integer(raw: pl.Expr, name: str) -> ParsePlan:
    """Polars reads plain integers within int64; the exact grammar reads the rest."""
    fast = pl.col(f"{name}fast")
    return ParsePlan(
        raw,
        pl.Int64(),
        slow_rows=raw.is_not_null() & fast.is_null(),
        slow=slow_integer,
        fast_value=fast,
        dense=({f"{name}fast": raw.str.to_integer(strict=False)},),
    )


def plan_datetime(raw: pl.Expr, name: str, source_timezone: str) -> ParsePlan:
    """The fixed-width fast path (where the guard holds), the general parser for the rest."""
    fast, guard = pl.col(f"{name}fast"), pl.col(f"{name}guard")
    fast_ok = (guard & fast.is_not_null()).fill_null(False)
    first: Step = {f"{name}fast": fast_datetime(raw), f"{name}guard": fast_guard(raw)}
    slow = partial(slow_datetime, source_timezone=source_timezone)
    if source_timezone == "UTC":  # the guard already bounds the fast values
        return ParsePlan(
            raw, DATETIME, raw.is_not_null() & ~fast_ok, slow, pl.when(fast_ok).then(fast),
            dense=(first,),
        )  # fmt: skip
    no_offset = pl.lit(None, pl.Int64)
    zoned = pl.col(f"{name}zoned")
    converted = to_utc(pl.when(fast_ok).then(fast), no_offset, source_timezone)
    gap = fast_ok & in_year_range(zoned).is_null()  # a DST gap, or pushed out of range
    return ParsePlan(
        raw,
        DATETIME,
        raw.is_not_null() & ~fast_ok,
        slow,
        fast_value=in_year_range(zoned),
        fast_error=pl.when(gap).then(error_code(ErrorType.INVALID_DATETIME)).otherwise(no_error()),
        dense=(first, {f"{name}zoned": converted}),
    )


def string_transforms(spec: FieldSpec) -> tuple[str, ...]:
    """The case transforms of a string field, in order: RAW is lower-case hex (layer 1),
    then the field's ``upper``/``lower`` (``yn_bool``, always last, is not one of them)."""
    raw_hex = ("lower",) if spec.oracle.is_raw else ()
    return (*raw_hex, *(t for t in spec.transforms if t in CASE_TRANSFORMS))


def parse_plan(
    spec: FieldSpec, name: str, source_timezone: str, *, transforms: bool = False
) -> ParsePlan:
    """Layer 1: the parser of the field's Oracle type, over column ``spec.source``.

    ``transforms``: a string field's plan applies its case transforms too (layer 5).
    """
    raw = pl.col(spec.source)
    value_type = spec.source_type
    if value_type is ValueType.INTEGER:
        return plan_integer(raw, name)
    if value_type is ValueType.FLOAT:
        return plan_float(raw, name)
    if value_type is ValueType.DATETIME:
        return plan_datetime(raw, name, source_timezone)
    layer1 = ("lower",) if spec.oracle.is_raw else ()  # RAW is lower-case hex
    return plan_string(raw, name, string_transforms(spec) if transforms else layer1)


def _merge_dense_steps(plans: Mapping[str, ParsePlan]) -> list[Step]:
    merged: list[Step] = []
    for plan in plans.values():
        for k, step in enumerate(plan.dense):
            if k == len(merged):
                merged.append({})
            merged[k].update(step)
    return merged


def _compact_frames(frame: pl.DataFrame, plans: Mapping[str, ParsePlan]) -> dict[str, pl.DataFrame]:
    """Run each slow path on its own rows only; all of them in one ``collect_all``."""
    counts = frame.select(pl.col(f"{name}slow_rows").sum() for name in plans).row(0)
    names = [name for name, count in zip(plans, counts, strict=True) if count]
    compact = [
        frame.lazy()
        .filter(pl.col(f"{name}slow_rows"))
        .select(plans[name].raw.alias("raw"))
        .pipe(plans[name].slow)
        .select(pl.col("value").cast(plans[name].dtype), "error")
        for name in names
    ]
    return dict(zip(names, pl.collect_all(compact, engine=ENGINE), strict=True))


@dataclass(frozen=True)
class Parsed:
    """Layers 1-4 done: ``frame`` holds the parsers' columns; per plan name, the value
    and the error code as expressions over ``frame`` (to be fused into the next step)."""

    frame: pl.DataFrame
    values: dict[str, pl.Expr]
    errors: dict[str, pl.Expr]


def _behind_null(values: pl.Series) -> pl.Expr:
    return pl.lit(pl.concat([pl.Series([None], dtype=values.dtype), values]))


def parse_columns(frame: pl.DataFrame, plans: Mapping[str, ParsePlan]) -> Parsed:
    """Layers 1-4 for every plan: dense fast paths, then all slow paths on compact frames."""
    dense = frame.lazy()
    for step in _merge_dense_steps(plans):
        dense = dense.with_columns(**step)
    frame = dense.with_columns(
        plan.slow_rows.fill_null(False).alias(f"{name}slow_rows") for name, plan in plans.items()
    ).collect(engine=ENGINE)
    slow = _compact_frames(frame, plans)
    values: dict[str, pl.Expr] = {}
    errors: dict[str, pl.Expr] = {}
    for name, plan in plans.items():
        value, error = plan.fast_value, plan.fast_error
        if name in slow:
            # The k-th slow row's result is row k of its compact frame: gather from the
            # compact column behind a leading null, at the mask's running count (0 where
            # the row is not slow).
            rows = pl.col(f"{name}slow_rows")
            at = rows.cum_sum() * rows
            value = pl.coalesce(_behind_null(slow[name]["value"]).gather(at), value)
            if plan.slow_fails:
                error = pl.coalesce(_behind_null(slow[name]["error"]).gather(at), error)
        values[name], errors[name] = value, error
    return Parsed(frame, values, errors)


def run_parse(frame: pl.DataFrame, plans: Mapping[str, ParsePlan]) -> pl.DataFrame:
    """Layers 1-4 for every plan: adds ``{name}value`` and ``{name}error`` per plan name.

    >>> from syncflow_core.catalog.models import FieldSpec
    >>> price = FieldSpec(source="P", oracle_type="NUMBER", target="price")
    >>> df = pl.DataFrame({"P": ["1,000.50", "12", None, "x"]})
    >>> run_parse(df, {"p_": parse_plan(price, "p_", "UTC")}).select("p_value", "p_error").rows()
    [(1000.5, 0), (12.0, 0), (None, 0), (None, 1)]
    """
    parsed = parse_columns(frame, plans)
    return parsed.frame.with_columns(
        *(v.alias(f"{name}value") for name, v in parsed.values.items()),
        *(e.alias(f"{name}error") for name, e in parsed.errors.items()),
    )
