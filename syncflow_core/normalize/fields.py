"""Layers 1 and 5 per field: which parser a column takes, then default, transforms, required.

Each parser has a dense fast path over the whole column (a few cheap kernels that read
the common forms) and a slow path that runs only on the rows the fast path left, as a
compact column (``compact.on_present``). A field becomes a ``FieldPlan``: dense steps of
named columns, materialized one step at a time (``prepare`` runs step k of every field
in one ``with_columns``, so Polars works on all fields at once), then its ``value`` and
``error`` expressions. Steps exist because Polars does not share a subexpression used
twice inside a ``when`` chain: each costly column is computed once, then read freely.

Order within a field (docs/internals.md): layers 1-4 (``invalid_number``,
``invalid_integer``, ``invalid_datetime``), then a null takes the default, then the
transforms in order (``yn_bool`` takes exactly ``Y``/``N``; a null stays null), then the
required check (``missing_required``). Key fields are always required.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import polars as pl

from syncflow_core.catalog.models import EntitySpec, FieldSpec, ValueType
from syncflow_core.normalize.compact import on_present, run_steps
from syncflow_core.normalize.datetimes import (
    DATETIME,
    datetime_fields,
    datetime_groups,
    fast_datetime,
    fast_guard,
    in_year_range,
    local_datetime,
    to_utc,
)
from syncflow_core.normalize.errors import ErrorType
from syncflow_core.normalize.numeric import (
    float_from_parts,
    integer_digits,
    integer_from_parts,
    number_groups,
    number_parts,
)
from syncflow_core.normalize.strings import clean_series, empty_to_null, needs_cleaning

Step = dict[str, pl.Expr]

DTYPES: dict[ValueType, pl.DataType] = {
    ValueType.STRING: pl.String(),
    ValueType.INTEGER: pl.Int64(),
    ValueType.FLOAT: pl.Float64(),
    ValueType.DATETIME: DATETIME,
    ValueType.BOOLEAN: pl.Boolean(),
}


def rowversion_field(spec: EntitySpec) -> FieldSpec:
    """ROWVERSION as a field: TIMESTAMP(6), required, target ``erp_rowversion``."""
    return FieldSpec(
        source=spec.rowversion_column,
        oracle_type="TIMESTAMP(6)",
        target="erp_rowversion",
        required=True,
    )


class Steps:
    """The columns one field materializes, in order; each ``add`` is a new step.

    >>> steps = Steps("__f0_")
    >>> steps.add(fast=pl.col("A").str.to_integer(strict=False)).meta.output_name()
    '__f0_fast'
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.steps: list[Step] = []

    def add(self, **exprs: pl.Expr) -> pl.Expr:
        """Materialize ``exprs`` together, after all earlier steps; returns the last column."""
        step = {f"{self.prefix}{name}": expr for name, expr in exprs.items()}
        self.steps.append(step)
        return pl.col(list(step)[-1])

    def col(self, name: str) -> pl.Expr:
        """A column added earlier."""
        return pl.col(f"{self.prefix}{name}")


@dataclass(frozen=True)
class Parsed:
    """Layers 1-4 of one field: its value and parse error code, over the steps' columns."""

    value: pl.Expr  # typed, null where absent or invalid
    error: pl.Expr  # UInt8 code, 0 where fine


@dataclass(frozen=True)
class FieldPlan:
    """One field from its raw column to its final value and error code (0: fine)."""

    field: FieldSpec
    steps: tuple[Step, ...]
    value: pl.Expr
    error: pl.Expr


def _code(error: ErrorType) -> pl.Expr:
    return pl.lit(error.code, pl.UInt8)


def _ok() -> pl.Expr:
    return pl.lit(0, pl.UInt8)


def _slow_dtype(value_type: ValueType) -> pl.Struct:
    return pl.Struct({"value": DTYPES[value_type], "error": pl.UInt8()})


# ------------------------------------------------------------------ slow paths (compact)


def _slow_frame(raw: pl.Series) -> pl.DataFrame:
    """Layer 2 on compact raw values: column ``text``, null for blanks."""
    text = clean_series(raw)
    return text.to_frame("text").with_columns(empty_to_null(pl.col("text")).alias("text"))


def _as_struct(frame: pl.DataFrame, value: pl.Expr, error: pl.Expr) -> pl.Series:
    return frame.select(pl.struct(value=value, error=error)).to_series()


def slow_float(raw: pl.Series) -> pl.Series:
    """Layers 2-3 on compact raw values of a float column: struct (value, error)."""
    text = pl.col("text")
    frame = run_steps(
        _slow_frame(raw),
        [{"groups": number_groups(text)}, {"parts": number_parts(pl.col("groups"))}],
    ).with_columns(value=float_from_parts(pl.col("parts")))
    value = pl.col("value")
    error = pl.when(text.is_not_null() & value.is_null()).then(_code(ErrorType.INVALID_NUMBER))
    return _as_struct(frame, value, error.otherwise(_ok()))


def slow_integer(raw: pl.Series) -> pl.Series:
    """Layers 2-3 on compact raw values of an integer column: struct (value, error)."""
    text, parts = pl.col("text"), pl.col("parts")
    frame = run_steps(
        _slow_frame(raw),
        [
            {"groups": number_groups(text)},
            {"parts": number_parts(pl.col("groups"))},
            {"digits": integer_digits(parts)},
            {"int": integer_from_parts(parts, pl.col("digits"))},
        ],
    )
    parsed = pl.col("int").struct
    error = (
        pl.when(text.is_not_null() & ~parts.struct.field("ok"))
        .then(_code(ErrorType.INVALID_NUMBER))
        .when(parsed.field("not_integer"))
        .then(_code(ErrorType.INVALID_INTEGER))
        .otherwise(_ok())
    )
    return _as_struct(frame, parsed.field("value"), error)


def slow_datetime(raw: pl.Series, source_timezone: str) -> pl.Series:
    """Layers 2 and 4 on compact raw values of a datetime column: struct (value, error)."""
    text, fields = pl.col("text"), pl.col("fields")
    frame = run_steps(
        _slow_frame(raw),
        [
            {"groups": datetime_groups(text)},
            {"fields": datetime_fields(pl.col("groups"))},
            {"local": local_datetime(fields)},
            {"utc": to_utc(pl.col("local"), fields.struct.field("offset"), source_timezone)},
        ],
    ).with_columns(value=in_year_range(pl.col("utc")))
    value = pl.col("value")
    error = pl.when(text.is_not_null() & value.is_null()).then(_code(ErrorType.INVALID_DATETIME))
    return _as_struct(frame, value, error.otherwise(_ok()))


def slow_string(raw: pl.Series) -> pl.Series:
    """Layer 2 steps 1-4 on the compact values that need it."""
    return clean_series(raw)


# ------------------------------------------------------------------ parsers (dense)


def _slow(
    raw: pl.Expr, rows: pl.Expr, fn: Callable[[pl.Series], pl.Series], vt: ValueType
) -> pl.Expr:
    """``fn`` on the non-null raw values where ``rows`` holds, compacted."""
    return on_present(pl.when(raw.is_not_null() & rows).then(raw), fn, _slow_dtype(vt))


def _merge(fast: pl.Expr, slow: pl.Expr) -> Parsed:
    s = slow.struct
    return Parsed(value=pl.coalesce(fast, s.field("value")), error=s.field("error").fill_null(0))


def parse_string(raw: pl.Expr, steps: Steps) -> Parsed:
    """Layer 2 alone (strings never fail): only values that can change are touched."""
    dirty = pl.when(needs_cleaning(raw)).then(raw)
    cleaned = steps.add(clean=on_present(dirty, slow_string, pl.String()))
    return Parsed(value=empty_to_null(pl.coalesce(cleaned, raw)), error=_ok())


def parse_float(raw: pl.Expr, steps: Steps) -> Parsed:
    """Layer 3 into Float64: Polars' cast reads plain numbers, the grammar the rest."""
    fast = steps.add(fast=raw.cast(pl.Float64, strict=False))
    fast_ok = fast.is_finite().fill_null(False)
    slow = steps.add(slow=_slow(raw, ~fast_ok, slow_float, ValueType.FLOAT))
    return _merge(pl.when(fast_ok).then(fast), slow)


def parse_integer(raw: pl.Expr, steps: Steps) -> Parsed:
    """Layer 3 into exact Int64: a fractional part or a value beyond int64 is invalid_integer."""
    fast = steps.add(fast=raw.str.to_integer(strict=False))
    slow = steps.add(slow=_slow(raw, fast.is_null(), slow_integer, ValueType.INTEGER))
    return _merge(fast, slow)


def parse_datetime(raw: pl.Expr, steps: Steps, source_timezone: str) -> Parsed:
    """Layer 4 into naive UTC: the fixed-width fast path, the general parser for the rest."""
    guard = steps.add(fast=fast_datetime(raw), guard=fast_guard(raw))
    fast = steps.col("fast")
    fast_ok = (guard & fast.is_not_null()).fill_null(False)
    slow_fn = partial(slow_datetime, source_timezone=source_timezone)
    slow = steps.add(slow=_slow(raw, ~fast_ok, slow_fn, ValueType.DATETIME))
    if source_timezone == "UTC":  # the guard already bounds the fast values
        return _merge(pl.when(fast_ok).then(fast), slow)
    null_offset = pl.lit(None, pl.Int64)
    zoned = steps.add(
        zoned=in_year_range(to_utc(pl.when(fast_ok).then(fast), null_offset, source_timezone))
    )
    merged = _merge(zoned, slow)
    gap = fast_ok & zoned.is_null()  # a wall time in a DST gap, or pushed out of range
    return Parsed(
        merged.value, pl.when(gap).then(_code(ErrorType.INVALID_DATETIME)).otherwise(merged.error)
    )


def parse_field(field: FieldSpec, raw: pl.Expr, steps: Steps, source_timezone: str) -> Parsed:
    """Layer 1: the parser of the field's Oracle type."""
    value_type = field.source_type
    if value_type is ValueType.INTEGER:
        return parse_integer(raw, steps)
    if value_type is ValueType.FLOAT:
        return parse_float(raw, steps)
    if value_type is ValueType.DATETIME:
        return parse_datetime(raw, steps, source_timezone)
    parsed = parse_string(raw, steps)
    if field.oracle.is_raw:
        return Parsed(parsed.value.str.to_lowercase(), parsed.error)
    return parsed


_STRING_TRANSFORMS: dict[str, Callable[[pl.Expr], pl.Expr]] = {
    "upper": lambda e: e.str.to_uppercase(),
    "lower": lambda e: e.str.to_lowercase(),
}


def field_plan(
    field: FieldSpec, index: int, *, required: bool, default: Any, source_timezone: str
) -> FieldPlan:
    """Layers 1-5 of one field; ``default`` is its parsed default (``parse_default``)."""
    steps = Steps(f"__f{index}_")
    parsed = parse_field(field, pl.col(field.source), steps, source_timezone)
    value = parsed.value
    if default is not None:
        value = pl.coalesce(value, pl.lit(default, DTYPES[field.source_type]))
    for transform in field.transforms:
        if transform != "yn_bool":  # the loader lets yn_bool come last only
            value = _STRING_TRANSFORMS[transform](value)
    steps.add(mapped=value, parse_error=parsed.error)
    mapped, parse_error = steps.col("mapped"), steps.col("parse_error")
    final: pl.Expr
    if "yn_bool" in field.transforms:
        final = pl.when(mapped == "Y").then(True).when(mapped == "N").then(False)
        bad = mapped.is_not_null() & final.is_null()
    else:
        final, bad = mapped, pl.lit(False)
    error = (
        pl.when(parse_error > 0)
        .then(parse_error)
        .when(bad)
        .then(_code(ErrorType.INVALID_BOOLEAN))
        .when(pl.lit(required) & final.is_null())
        .then(_code(ErrorType.MISSING_REQUIRED))
        .otherwise(_ok())
    )
    return FieldPlan(field=field, steps=tuple(steps.steps), value=final, error=error)
