"""Hypothesis strategies for messy APISmith values: every accepted form of layers 2-4,
near misses of each, the escaping characters of identity.md, nulls, blanks, NFC/NFD,
CRLF and control characters.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

# Characters that exercise layer 2 and the canonical escaping.
_SPECIAL = [
    "\r\n", "\r", "\n", "\t", "\x00", "\x07", "\x1b", "\x1f", "\x7f", "\x0b", "\x0c",
    "\x1c", "\x85", "\u00a0", "\u2003", "\u3000", "\u2028", "\u200b", "\ufeff",
    "e\u0301", "\u00e9", "A\u030a", "\u212b", "\u1100\u1161", "\uac00", "\u0958",
    "|", "=", "\\", "\\|", "ß", "ς", "Σ", "İ", "ı", "ﬁ", "😀", "Y", "N", "y", "n",
]  # fmt: skip
_PLAIN = st.text(alphabet="abcXYZ019 -_.,/", max_size=6)

text_values = st.lists(st.one_of(_PLAIN, st.sampled_from(_SPECIAL)), max_size=6).map("".join)


def _pad(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    space = st.sampled_from(["", "", "", " ", "  ", "\t", "\r\n", "\u00a0", "\x07"])
    return st.tuples(space, inner, space).map("".join)


# ---------------------------------------------------------------- numbers

_DIGITS = st.integers(0, 10**12).map(str)
_GROUPED = st.lists(st.integers(0, 999), min_size=1, max_size=4).flatmap(
    lambda groups: st.integers(1, 999).map(
        lambda head: ",".join([str(head), *(f"{g:03d}" for g in groups)])
    )
)
_BAD_GROUPED = st.sampled_from(["1,00", "1,0000", ",100", "1,,000", "12,34.5", "1,000,00"])
_CORE = st.tuples(
    st.one_of(_DIGITS, _GROUPED, st.just("")),
    st.sampled_from(["", ".", ".5", ".50", ".125", ".000", ".0000000000000000001"]),
    st.sampled_from(["", "", "e3", "E+3", "e-4", "E-03", "e400", "e-400", "e+0", "e"]),
).map("".join)
_CURRENCY = st.sampled_from(["$", "€", "£", "¥", "USD", "EUR", "usd", "US", "XX1"])
_SP = st.sampled_from(["", "", " ", "  "])


@st.composite
def number_texts(draw: st.DrawFn) -> str:
    """A number as a string in any accepted form of layer 3, or a near miss."""
    core = draw(st.one_of(_CORE, _BAD_GROUPED))
    sign = draw(st.sampled_from(["", "", "-", "+"]))
    currency = draw(st.one_of(st.just(""), _CURRENCY))
    before = draw(st.booleans())
    parts = [core]
    if currency:
        parts = [currency, draw(_SP), core] if before else [core, draw(_SP), currency]
    shape = draw(st.sampled_from(["plain", "sign", "sign", "parens", "trailing", "sign_out"]))
    body = "".join(parts)
    if shape == "sign":
        body = sign + draw(_SP) + body
    elif shape == "sign_out":
        body = draw(_SP).join([currency, sign, core])
    elif shape == "parens":
        body = "(" + draw(_SP) + body + draw(_SP) + ")" + draw(st.sampled_from(["", "", "-"]))
    elif shape == "trailing":
        body = body + draw(_SP) + "-"
    return draw(_pad(st.just(body)))


number_values = st.one_of(
    number_texts(),
    st.sampled_from(["NaN", "nan", "inf", "-Infinity", "Infinity", "abc", "1.2.3", "--1", "."]),
    st.integers(-(10**18), 10**18),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda x: round(x, 2)),
)

# ---------------------------------------------------------------- dates

_MONTHS = ["JAN", "Feb", "mar", "APR", "May", "jun", "JUL", "Aug", "sep", "OCT", "Nov", "dec"]


_LOOSE_DATES = [
    "2025-1-8", "20251208", "2025/12/08", "yesterday", "12-08-2025", "2025-12-08T10:30",
    "08-DEC-2025 10:00", "2025-12-08 10:30:00+02:00", "2025-12-08t10:30:00", "+025-12-08",
]  # fmt: skip
ALL_YEARS = (2025, 2024, 1900, 2000, 1, 9999, 0, 1969, 2049, 2050)
# Polars' zone data (chrono-tz) stops applying DST rules around 2100 where Python's zoneinfo
# extrapolates them: for a zone other than UTC, naive values stay before 2100.
ZONED_YEARS = (2025, 2024, 1900, 2000, 1, 2099, 0, 1969, 2049, 2050)


@st.composite
def date_texts(draw: st.DrawFn, years: tuple[int, ...] = ALL_YEARS) -> str:
    """A date/time string in any layer 4 format, with values in and out of range."""
    y = draw(st.sampled_from(years))
    mo = draw(st.integers(0, 13))
    d = draw(st.sampled_from([1, 8, 28, 29, 30, 31, 0, 32]))
    h, mi, s = (
        draw(st.integers(0, 24)),
        draw(st.sampled_from([0, 30, 59, 60])),
        draw(st.sampled_from([0, 1, 59, 60])),
    )
    frac = draw(st.sampled_from(["", "", ".5", ".123", ".123456", ".000000", ".1234567", "."]))
    offset = draw(st.sampled_from(["", "", "Z", "+02:00", "-05:30", "+00:00", "+24:00", "-23:59",
                                   "+0200", "z"]))  # fmt: skip
    fmt = draw(st.sampled_from(["iso_date", "iso", "oracle", "rr", "yyyy", "us", "loose"]))
    if fmt == "iso_date":
        text = f"{y:04d}-{mo:02d}-{d:02d}"
    elif fmt == "iso":
        text = f"{y:04d}-{mo:02d}-{d:02d}T{h:02d}:{mi:02d}:{s:02d}{frac}{offset}"
    elif fmt == "oracle":
        text = f"{y:04d}-{mo:02d}-{d:02d} {h:02d}:{mi:02d}:{s:02d}{frac}" + draw(
            st.sampled_from(["", "", "", "Z"])
        )
    elif fmt in ("rr", "yyyy"):
        month = _MONTHS[(mo - 1) % 12] if 1 <= mo <= 12 else draw(st.sampled_from(["XYZ", "DECE"]))
        year = f"{y % 100:02d}" if fmt == "rr" else f"{y:04d}"
        day = draw(st.sampled_from([f"{d:02d}", str(d)]))
        text = f"{day}-{month}-{year}"
    elif fmt == "us":
        text = draw(st.sampled_from([f"{mo:02d}/{d:02d}/{y:04d}", f"{mo}/{d}/{y:04d}"]))
    else:
        text = draw(st.sampled_from(_LOOSE_DATES))
    return draw(_pad(st.just(text)))


def date_values_in(years: tuple[int, ...]) -> st.SearchStrategy[Any]:
    return st.one_of(
        date_texts(years), st.integers(0, 10**9), st.just("2025-12-08 10:30:00.123456")
    )


date_values = date_values_in(ALL_YEARS)

# ---------------------------------------------------------------- rows


def value_for(oracle_type: str, *, zoned: bool = False) -> st.SearchStrategy[Any]:
    """Raw values for a column of this Oracle type (with nulls, blanks, other types)."""
    base = oracle_type.split("(")[0]
    if base in ("NUMBER", "FLOAT", "BINARY_DOUBLE"):
        typed = number_values
    elif base in ("DATE", "TIMESTAMP"):
        typed = date_values_in(ZONED_YEARS if zoned else ALL_YEARS)
    elif base == "RAW":
        typed = st.one_of(st.text(alphabet="0123456789abcdefABCDEF", max_size=8), text_values)
    else:
        typed = st.one_of(text_values, st.sampled_from(["Y", "N", " y ", "n", "YES", "x"]))
    blank = st.sampled_from([None, "", "   ", "\t\r\n", "\x00"])
    return st.one_of(typed, typed, typed, blank, st.integers(-5, 5), st.booleans())
