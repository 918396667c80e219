"""The slow paths: the full layers 1-4 on the compact rows the fast paths left.

Each takes a lazy frame with the column ``raw`` (raw values, not null) and adds
``value`` (the parsed value, null where invalid or blank) and ``error`` (UInt8 code,
0: fine). They are plain expressions over few rows, so they may read a column often.

>>> import polars as pl
>>> raw = pl.LazyFrame({"raw": [" (1,000.50) ", "x", "  "]})
>>> slow_float(raw).select("value", "error").collect().rows()
[(-1000.5, 0), (None, 1), (None, 0)]
"""

from __future__ import annotations

import polars as pl

from syncflow_core.normalize.datetimes import (
    datetime_shape,
    explicit_utc,
    in_year_range,
    local_datetime,
    rr_dates,
    to_utc,
)
from syncflow_core.normalize.errors import ErrorType, error_code, no_error
from syncflow_core.normalize.numeric import (
    float_from_core,
    integer_digits,
    integer_from_core,
    integer_groups,
    number_core,
    number_text,
)
from syncflow_core.normalize.strings import (
    case_transformed,
    controls_fixed,
    empty_to_null,
    nfc_trimmed,
)


def _cleaned(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Layer 2 steps 1-4 on the compact rows: column ``cleaned`` (never null)."""
    fixed = frame.with_columns(fixed=controls_fixed(pl.col("raw")))
    return fixed.with_columns(cleaned=nfc_trimmed(pl.col("fixed")))


def _with_text(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Layer 2 on the compact rows: column ``text``, null for blanks."""
    return _cleaned(frame).with_columns(text=empty_to_null(pl.col("cleaned")))


def _error_where_null(code: ErrorType) -> pl.Expr:
    failed = pl.col("text").is_not_null() & pl.col("value").is_null()
    return pl.when(failed).then(error_code(code)).otherwise(no_error()).alias("error")


def slow_string(frame: pl.LazyFrame, transforms: tuple[str, ...] = ()) -> pl.LazyFrame:
    """Layer 2 steps 1-4, then the string transforms ("" becomes null later: the
    transforms keep "" as "", so the order against the default does not matter)."""
    value = case_transformed(pl.col("cleaned"), transforms)
    return _cleaned(frame).with_columns(value=value, error=no_error())


def _number_core(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Layers 2-3 up to the bare number: column ``core`` (struct negative, core)."""
    return (
        _with_text(frame)
        .with_columns(parts=number_text(pl.col("text")))
        .with_columns(core=number_core(pl.col("parts")))
    )


def slow_float(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Layers 2-3 into Float64; invalid_number where the grammar fails or overflows."""
    return (
        _number_core(frame)
        .with_columns(value=float_from_core(pl.col("core")))
        .with_columns(_error_where_null(ErrorType.INVALID_NUMBER))
    )


def slow_integer(frame: pl.LazyFrame) -> pl.LazyFrame:
    """Layers 2-3 into exact Int64; invalid_integer for a fraction or beyond int64."""
    core, parsed = pl.col("core"), pl.col("int").struct
    error = (
        pl.when(pl.col("text").is_not_null() & core.struct.field("core").is_null())
        .then(error_code(ErrorType.INVALID_NUMBER))
        .when(parsed.field("not_integer"))
        .then(error_code(ErrorType.INVALID_INTEGER))
        .otherwise(no_error())
    )
    return (
        _number_core(frame)
        .with_columns(groups=integer_groups(core))
        .with_columns(digits=integer_digits(pl.col("groups")))
        .with_columns(int=integer_from_core(core, pl.col("digits")))
        .with_columns(value=parsed.field("value"), error=error)
    )


def slow_datetime(frame: pl.LazyFrame, source_timezone: str) -> pl.LazyFrame:
    """Layers 2 and 4 into naive UTC; invalid_datetime where no format reads the text."""
    text, shape = pl.col("text"), pl.col("shape")
    no_offset = pl.lit(None, pl.Int64)
    return (
        _with_text(frame)
        .with_columns(shape=datetime_shape(text))
        .with_columns(rr=rr_dates(text, shape))
        .with_columns(
            local=local_datetime(text, shape, pl.col("rr")), explicit=explicit_utc(text, shape)
        )
        .with_columns(
            utc=pl.coalesce(pl.col("explicit"), to_utc(pl.col("local"), no_offset, source_timezone))
        )
        .with_columns(value=in_year_range(pl.col("utc")))
        .with_columns(_error_where_null(ErrorType.INVALID_DATETIME))
    )
