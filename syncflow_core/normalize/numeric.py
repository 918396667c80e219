"""Layer 3: numbers written as strings, into Float64 or exact Int64.

Accepted (normalization.md): an optional sign, an optional currency symbol ``$ € £ ¥``
or upper-case three-letter code before or after the number, plain or comma-grouped
digits with ``.`` as the decimal point and an optional exponent, accounting negatives
``(12.50)`` and a trailing minus ``12.50-``; white space between the parts. Where the
contract is silent this module decides, and the tests' reference agrees:

- ``.5`` and ``5.`` are numbers (Oracle writes 0.5 as ``.5``); ``.`` is not;
- at most one currency, and at most one of: a sign, parentheses, a trailing minus
  (``(-12)`` and ``-12-`` are errors); the sign may stand on either side of a leading
  currency (``-$12``, ``$-12``); a currency may stand outside the parentheses
  (``$(12.50)``, ``(12.50) USD``) and before a trailing minus (``12 USD-``);
- NaN, infinities and values that overflow a float are ``invalid_number``.

How: one regex (a DFA, no captures) says whether the text is a number; deleting the
currency, white space, grouping commas and parentheses then leaves a plain number
that Polars reads, with the sign told by ``(`` or a leading or trailing ``-``.

>>> import polars as pl
>>> df = pl.DataFrame({"s": ["1,000.50", "(12.50)", "12.00 USD", "1.5E+3", "1,00", "nan"]})
>>> df.select(parse_float_text(pl.col("s"))).to_series().to_list()
[1000.5, -12.5, 12.0, 1500.0, None, None]
"""

from __future__ import annotations

import polars as pl

from syncflow_core.normalize.digits import significant

_W = r"\s*"
_CURRENCY = r"(?:[$€£¥]|[A-Z]{3})"
_NUM = r"(?:(?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9]+)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"


def _currency_around(x: str) -> list[str]:
    return [x, _CURRENCY + _W + x, x + _W + _CURRENCY]


_FORMS = [
    *_currency_around(_NUM),
    rf"[+-]{_W}{_NUM}",
    rf"{_CURRENCY}{_W}[+-]{_W}{_NUM}",
    rf"[+-]{_W}{_CURRENCY}{_W}{_NUM}",
    rf"[+-]{_W}{_NUM}{_W}{_CURRENCY}",
    *(rf"\({_W}{x}{_W}\)" for x in _currency_around(_NUM)),
    rf"{_CURRENCY}{_W}\({_W}{_NUM}{_W}\)",
    rf"\({_W}{_NUM}{_W}\){_W}{_CURRENCY}",
    *(rf"{x}{_W}-" for x in _currency_around(_NUM)),
]
NUMBER_PATTERN = "^(?:" + "|".join(_FORMS) + ")$"
# What is not the number itself: a three-letter code (whose E is no exponent), a symbol,
# white space, grouping commas, parentheses. The signs stay and are read below.
_NOT_NUMBER = r"[A-Z]{3}|[^0-9.eE+\-]"
_PLAIN_PARTS = r"^(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?:[eE](?P<exp>[+-]?[0-9]+))?$"
# An exponent beyond this is clamped: it only has to stay beyond any float or int64.
_EXP_LIMIT = 10_000_000
INT64_DIGITS = 19


def number_text(text: pl.Expr) -> pl.Expr:
    """A struct (ok, paren, stripped) of cleaned text: is it a number, and its bare text.

    Reads ``text`` three times: pass a column.
    """
    return pl.struct(
        ok=text.str.contains(NUMBER_PATTERN),
        paren=text.str.contains("(", literal=True),
        stripped=text.str.replace_all(_NOT_NUMBER, ""),
    )


def number_core(parts: pl.Expr) -> pl.Expr:
    """A struct (negative, core) from ``number_text``; core is null where ok is not true.

    ``core`` is a plain unsigned number such as ``1000.50`` or ``1.5E+3``.
    """
    p = parts.struct
    stripped = p.field("stripped")
    negative = p.field("paren") | stripped.str.starts_with("-") | stripped.str.ends_with("-")
    core = stripped.str.strip_chars_start("+-").str.strip_suffix("-")
    return pl.struct(negative=negative, core=pl.when(p.field("ok")).then(core))


def float_from_core(core: pl.Expr) -> pl.Expr:
    """The Float64 of ``number_core``; null where it is not a number or overflows."""
    c = core.struct
    magnitude = c.field("core").cast(pl.Float64, strict=False)
    value = pl.when(c.field("negative")).then(-magnitude).otherwise(magnitude)
    # The grammar admits no NaN; an infinity here is an overflow: invalid_number.
    return value.replace([float("inf"), float("-inf")], None)


def _exponent(text: pl.Expr) -> pl.Expr:
    value = text.str.to_integer(strict=False)
    huge = pl.when(text.str.starts_with("-")).then(-_EXP_LIMIT).otherwise(_EXP_LIMIT)
    clamped = pl.when(text.is_not_null() & value.is_null()).then(huge).otherwise(value)
    return clamped.clip(-_EXP_LIMIT, _EXP_LIMIT).fill_null(0)


def integer_groups(core: pl.Expr) -> pl.Expr:
    """The integer, fraction and exponent digits of ``number_core``'s plain number."""
    return core.struct.field("core").str.extract_groups(_PLAIN_PARTS)


def integer_digits(groups: pl.Expr) -> pl.Expr:
    """A struct (digits, point) of ``integer_groups``: the magnitude is 0.digits × 10^point.

    Reads ``groups`` often: pass a column.
    """
    g = groups.struct
    sig = significant(g.field("int"), g.field("frac"), _exponent(g.field("exp")))
    return pl.struct(digits=sig.digits, point=sig.point)


def integer_from_core(core: pl.Expr, digits: pl.Expr) -> pl.Expr:
    """A struct (value Int64, not_integer) from ``number_core`` and ``integer_digits``.

    Exact for any length: a fractional part or a value beyond int64 is ``not_integer``.
    """
    c, d = core.struct, digits.struct
    length = d.field("digits").str.len_bytes().cast(pl.Int64)
    point = d.field("point")
    zero = length == 0
    fractional = ~zero & (point < length)
    wide = ~zero & ~fractional & (point > INT64_DIGITS)
    padded = d.field("digits").str.pad_end(point.clip(0, INT64_DIGITS), "0")
    signed = pl.when(c.field("negative")).then(pl.lit("-") + padded).otherwise(padded)
    fits = ~zero & ~fractional & ~wide
    value = (
        pl.when(zero).then(pl.lit(0, pl.Int64)).when(fits).then(signed.str.to_integer(strict=False))
    )
    ok = c.field("core").is_not_null()
    return pl.struct(
        value=pl.when(ok).then(value),
        not_integer=ok & (fractional | wide | (fits & value.is_null())),
    )


def parse_float_text(text: pl.Expr) -> pl.Expr:
    """Layer 3 for a float column on cleaned text, in one expression (for small frames)."""
    return float_from_core(number_core(number_text(text)))
