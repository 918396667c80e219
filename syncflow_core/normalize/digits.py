"""Exact decimal text as Polars expressions: digits and a point position, no floats.
Padding uses ``pad_start``/``pad_end`` with per-row lengths (a broadcast literal of
zeros would be copied to every row, null or not).

A decimal ``I.F × 10^E`` is held as its significant digits ``D`` (no leading or trailing
zeros) and the point position ``p``: the value is ``0.D × 10^p``. From there both the
integer check of layer 3 and the plain float notation of identity.md are string slicing.

>>> import polars as pl
>>> d = significant(pl.lit("0012"), pl.lit("500"), pl.lit(-1))
>>> pl.select(plain_notation(d.digits, d.point, pl.lit(False))).item()
'1.25'
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl


@dataclass(frozen=True)
class Significant:
    """``digits``: significant digits ("" for zero); ``point``: the value is 0.digits × 10^point."""

    digits: pl.Expr
    point: pl.Expr


def significant(int_digits: pl.Expr, frac_digits: pl.Expr, exponent: pl.Expr) -> Significant:
    """Normalize ``int_digits.frac_digits × 10^exponent`` (digit strings, Int64 exponent).

    Null where ``int_digits`` is null (``""`` is a valid empty integer part, as in ``.5``);
    a null ``frac_digits`` is an empty fraction.
    """
    joined = pl.when(int_digits.is_not_null()).then(
        pl.concat_str([int_digits, frac_digits], ignore_nulls=True)
    )
    stripped = joined.str.strip_chars_start("0")
    lead = joined.str.len_bytes().cast(pl.Int64) - stripped.str.len_bytes().cast(pl.Int64)
    point = int_digits.str.len_bytes().cast(pl.Int64) + exponent - lead
    return Significant(digits=stripped.str.strip_chars_end("0"), point=point)


def plain_notation(digits: pl.Expr, point: pl.Expr, negative: pl.Expr) -> pl.Expr:
    """The plain decimal text of ``±0.digits × 10^point``: no exponent, no trailing zeros."""
    length = digits.str.len_bytes().cast(pl.Int64)
    body = (
        pl.when(length == 0)
        .then(pl.lit("0"))
        .when(point <= 0)
        .then(pl.lit("0.") + digits.str.pad_start((length - point).clip(0, None), "0"))
        .when(point >= length)
        .then(digits.str.pad_end(point.clip(0, None), "0"))
        .otherwise(
            pl.concat_str(
                [
                    digits.str.slice(0, point.clip(0, None)),
                    pl.lit("."),
                    digits.str.slice(point.clip(0, None)),
                ]
            )
        )
    )
    return pl.when(negative & (length > 0)).then(pl.lit("-") + body).otherwise(body)
