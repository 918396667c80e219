"""Layer 3: numbers written as strings, into Float64 or exact Int64.

Accepted (normalization.md): an optional sign, an optional currency symbol ``$ € £ ¥``
or upper-case three-letter code before or after the number, plain or comma-grouped
digits with ``.`` as the decimal point and an optional exponent, accounting negatives
``(12.50)`` and a trailing minus ``12.50-``; white space between the parts. Where the
contract is silent this module decides, and the tests' reference agrees:

- ``.5`` and ``5.`` are numbers (Oracle writes 0.5 as ``.5``); ``.`` is not;
- at most one currency, and at most one of: a sign, parentheses, a trailing minus
  (``(-12)`` and ``-12-`` are errors);
- a currency may stand outside the parentheses (``$(12.50)``, ``(12.50) USD``);
- NaN, infinities and values that overflow a float are ``invalid_number``.

Fast path: Polars' own string-to-number cast accepts only plain ASCII numbers, which
layer 2 leaves alone; the rows it cannot read (and its NaN/inf) take the grammar below
on a column that is null elsewhere.

>>> import polars as pl
>>> df = pl.DataFrame({"s": ["1,000.50", "(12.50)", "12.00 USD", "1.5E+3", "1,00", "nan"]})
>>> df.select(parse_float_text(pl.col("s"))).to_series().to_list()
[1000.5, -12.5, 12.0, 1500.0, None, None]
"""

from __future__ import annotations

import polars as pl

from syncflow_core.normalize.digits import significant

_CURRENCY = r"(?:[$€£¥]|[A-Z]{3})"
_DIGITS = (
    r"(?P<int>[0-9]{1,3}(?:,[0-9]{3})+|[0-9]*)"
    r"(?:\.(?P<frac>[0-9]*))?"
    r"(?:[eE](?P<exp>[+-]?[0-9]+))?"
)
# The parts in the only order they may come; which combinations are allowed is checked
# on the captured groups (number_parts), because a regex for every combination is unreadable.
NUMBER_PATTERN = (
    rf"^(?:(?P<c0>{_CURRENCY})\s*)?(?P<open>\()?\s*(?:(?P<c1>{_CURRENCY})\s*)?"
    rf"(?P<sign>[+-])?\s*(?:(?P<c2>{_CURRENCY})\s*)?{_DIGITS}"
    rf"\s*(?P<c3>{_CURRENCY})?\s*(?P<close>\))?\s*(?P<c4>{_CURRENCY})?\s*(?P<trail>-)?$"
)
# An exponent beyond this is clamped: it only has to stay beyond any float or int64.
_EXP_LIMIT = 10_000_000
INT64_DIGITS = 19


def _present(field: pl.Expr) -> pl.Expr:
    return field.is_not_null().cast(pl.Int8)


def number_groups(text: pl.Expr) -> pl.Expr:
    """The grammar's capture groups on cleaned text (a struct; all null where it fails)."""
    return text.str.extract_groups(NUMBER_PATTERN)


def number_parts(groups: pl.Expr) -> pl.Expr:
    """A struct (ok, negative, int, frac, exp) from ``number_groups``; ok is null for null.

    Reads ``groups`` many times: pass a column.
    """
    g = groups.struct
    int_digits = g.field("int").str.replace_all(",", "", literal=True)
    frac = g.field("frac")
    has_digit = (int_digits.str.len_bytes() + frac.fill_null("").str.len_bytes()) > 0
    currencies = sum(_present(g.field(f"c{i}")) for i in range(5))
    markers = _present(g.field("sign")) + _present(g.field("open")) + _present(g.field("trail"))
    ok = (
        g.field("int").is_not_null()
        & has_digit
        & (g.field("open").is_null() == g.field("close").is_null())
        & (currencies <= 1)
        & (markers <= 1)
    )
    negative = (
        (g.field("sign") == "-") | g.field("open").is_not_null() | g.field("trail").is_not_null()
    )
    return pl.struct(
        ok=ok.fill_null(False),
        negative=negative.fill_null(False),
        int=int_digits,
        frac=pl.when(int_digits.is_not_null()).then(frac.fill_null("")),
        exp=_exponent(g.field("exp")),
    )


def _exponent(text: pl.Expr) -> pl.Expr:
    value = text.str.to_integer(strict=False)
    huge = pl.when(text.str.starts_with("-")).then(-_EXP_LIMIT).otherwise(_EXP_LIMIT)
    clamped = pl.when(text.is_not_null() & value.is_null()).then(huge).otherwise(value)
    return clamped.clip(-_EXP_LIMIT, _EXP_LIMIT).fill_null(0)


def float_from_parts(parts: pl.Expr) -> pl.Expr:
    """The Float64 of ``number_parts``; null where the grammar failed or the value overflows."""
    p = parts.struct
    text = pl.concat_str(
        [
            pl.when(p.field("negative")).then(pl.lit("-")).otherwise(pl.lit("")),
            p.field("int"),
            pl.lit("."),
            p.field("frac"),
            pl.lit("0e"),  # "5." and ".5" alike become "5.0e…" / ".50e…"
            p.field("exp").cast(pl.String),
        ]
    )
    # The grammar admits no NaN; an infinity here is an overflow: invalid_number.
    parsed = pl.when(p.field("ok")).then(text).cast(pl.Float64, strict=False)
    return parsed.replace([float("inf"), float("-inf")], None)


def integer_digits(parts: pl.Expr) -> pl.Expr:
    """A struct (digits, point) of ``number_parts``: the value is ±0.digits × 10^point."""
    p = parts.struct
    sig = significant(p.field("int"), p.field("frac"), p.field("exp"))
    return pl.struct(digits=sig.digits, point=sig.point)


def integer_from_parts(parts: pl.Expr, digits: pl.Expr) -> pl.Expr:
    """A struct (value Int64, not_integer) from ``number_parts`` and ``integer_digits``.

    Exact for any length: a fractional part or a value beyond int64 is ``not_integer``.
    """
    p, d = parts.struct, digits.struct
    length = d.field("digits").str.len_bytes().cast(pl.Int64)
    point = d.field("point")
    zero = length == 0
    fractional = ~zero & (point < length)
    wide = ~zero & ~fractional & (point > INT64_DIGITS)
    padded = d.field("digits").str.pad_end(point.clip(0, INT64_DIGITS), "0")
    signed = pl.when(p.field("negative")).then(pl.lit("-") + padded).otherwise(padded)
    fits = ~zero & ~fractional & ~wide
    value = (
        pl.when(zero).then(pl.lit(0, pl.Int64)).when(fits).then(signed.str.to_integer(strict=False))
    )
    ok = p.field("ok")
    return pl.struct(
        value=pl.when(ok).then(value),
        not_integer=ok & (fractional | wide | (fits & value.is_null())),
    )


def parse_float_text(text: pl.Expr) -> pl.Expr:
    """Layer 3 for a float column on cleaned text, in one expression (slow: for small frames)."""
    return float_from_parts(number_parts(number_groups(text)))
