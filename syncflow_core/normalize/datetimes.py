"""Layer 4: date and time strings into naive UTC ``Datetime("us")``.

Formats (normalization.md, in its order; they cannot overlap): ISO date, ISO datetime
(``T``, up to 6 fraction digits, optional ``Z`` or ``±HH:MM``), Oracle timestamp
(space, up to 6 fraction digits, no offset), ``DD-MON-RR``, ``DD-MON-YYYY``, US
``MM/DD/YYYY``. Where the contract is silent this module decides, and the tests'
reference agrees:

- ISO forms need every digit (``2025-1-8`` is an error); DD-MON and US forms take a
  one- or two-digit day and month; month names any case, English, three letters;
- more than 6 fraction digits, a leap second, hour 24, year 0000 are errors;
- an offset is ``Z`` or ``±HH:MM`` with HH <= 23; the Oracle timestamp takes none;
- a naive value in a DST gap of ``source_timezone`` is an error; in a DST overlap the
  earlier instant wins; a result outside the years 1-9999 is an error;
- digits only, such as a JSON number, are an error.

The fast path reads the three commonest fixed-width forms (``YYYY-MM-DD``,
``YYYY-MM-DD HH:MM:SS`` and with ``.ffffff``) straight from the raw column with Polars'
fixed-width parser, guarded by a regex because that parser is lenient (it takes ``+025``
as a year and 60 as a second). Everything else takes the general parser, on just those
rows (``fields`` compacts them).

>>> import polars as pl
>>> s = ["08-dec-25", "12/08/2025", "2025-12-08T10:30:00.5+02:00", "2025-02-30"]
>>> pl.DataFrame({"s": s}).select(parse_datetime_text(pl.col("s"), "UTC")).to_series().to_list()
... # doctest: +NORMALIZE_WHITESPACE
[datetime.datetime(2025, 12, 8, 0, 0), datetime.datetime(2025, 12, 8, 0, 0),
 datetime.datetime(2025, 12, 8, 8, 30, 0, 500000), None]
"""

from __future__ import annotations

import polars as pl

DATETIME = pl.Datetime("us")

_YEAR = r"(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_MONTH = r"(?:0[1-9]|1[0-2])"
_DAY = r"(?:0[1-9]|[12][0-9]|3[01])"
_TIME = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
FAST_PATTERN = rf"^{_YEAR}-{_MONTH}-{_DAY}(?: {_TIME}(?:\.[0-9]{{6}})?)?$"
_FAST_FORMATS = {26: "%Y-%m-%d %H:%M:%S.%6f", 19: "%Y-%m-%d %H:%M:%S", 10: "%Y-%m-%d"}

_FRACTION = r"(?:\.[0-9]{1,6})?"
_OFFSET = r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
_DAY_1_2 = r"(?:0?[1-9]|[12][0-9]|3[01])"
_MONTH_1_2 = r"(?:0?[1-9]|1[0-2])"
# The general parser's three families, strict (every field in range, no extra character):
# once a text matches one, Polars' (lenient) parser only converts it.
ISO_PATTERN = rf"^{_YEAR}-{_MONTH}-{_DAY}(?:T{_TIME}{_FRACTION}{_OFFSET}?| {_TIME}{_FRACTION})?$"
MON_PATTERN = rf"^{_DAY_1_2}-[A-Za-z]{{3}}-(?:[0-9]{{2}}|{_YEAR})$"
US_PATTERN = rf"^{_MONTH_1_2}/{_DAY_1_2}/{_YEAR}$"


def fast_datetime(raw: pl.Expr) -> pl.Expr:
    """The fixed-width forms as Polars reads them; valid only where ``fast_guard`` holds."""
    length = raw.str.len_bytes()
    return pl.coalesce(
        [
            pl.when(length == n).then(raw).str.strptime(DATETIME, fmt, strict=False, cache=False)
            for n, fmt in _FAST_FORMATS.items()
        ]
    )


def fast_guard(raw: pl.Expr) -> pl.Expr:
    """True where ``raw`` is exactly one of the fast forms with in-range fields."""
    return raw.str.contains(FAST_PATTERN)


def datetime_shape(text: pl.Expr) -> pl.Expr:
    """Which format a cleaned text has: a struct of flags (reads ``text`` often: a column).

    ``iso``, ``mon``, ``us``: the family (strict); within ISO: ``date`` (no time), ``t``
    (the ``T`` form), ``z`` and ``offset`` (the explicit offsets); within MON: ``rr``.
    """
    tail = text.str.slice(-6, 1)
    return pl.struct(
        iso=text.str.contains(ISO_PATTERN),
        mon=text.str.contains(MON_PATTERN),
        us=text.str.contains(US_PATTERN),
        date=text.str.len_bytes() == 10,
        t=text.str.contains("T", literal=True),
        z=text.str.ends_with("Z"),
        offset=(tail == "+") | (tail == "-"),
        rr=text.str.slice(-3, 1) == "-",
    )


def _read(text: pl.Expr, where: pl.Expr, fmt: str) -> pl.Expr:
    return pl.when(where).then(text).str.strptime(DATETIME, fmt, strict=False, cache=False)


def rr_dates(text: pl.Expr, shape: pl.Expr) -> pl.Expr:
    """``DD-MON-RR`` as Polars reads ``%y`` (00-68 are 20xx): fixed by ``rr_pivot``."""
    s = shape.struct
    return _read(text, s.field("mon") & s.field("rr"), "%d-%b-%y")


def rr_pivot(dates: pl.Expr) -> pl.Expr:
    """Oracle RR: 50-99 are 19xx, so 2050-2068 go back a century (reads ``dates`` twice)."""
    back = pl.when(dates.dt.year() >= 2050).then(pl.lit("-100y")).otherwise(pl.lit("0y"))
    return dates.dt.offset_by(back)


def local_datetime(text: pl.Expr, shape: pl.Expr, rr: pl.Expr) -> pl.Expr:
    """The naive (source time zone) value of the formats without an offset; null elsewhere."""
    s = shape.struct
    iso, t = s.field("iso"), s.field("t")
    return pl.coalesce(
        _read(text, iso & s.field("date"), "%Y-%m-%d"),
        _read(text, iso & ~t & ~s.field("date"), "%Y-%m-%d %H:%M:%S%.f"),
        _read(text, iso & t & ~s.field("z") & ~s.field("offset"), "%Y-%m-%dT%H:%M:%S%.f"),
        rr_pivot(rr),
        _read(text, s.field("mon") & ~s.field("rr"), "%d-%b-%Y"),
        _read(text, s.field("us"), "%m/%d/%Y"),
    )


def explicit_utc(text: pl.Expr, shape: pl.Expr) -> pl.Expr:
    """The naive UTC value of the ISO forms with ``Z`` or ``±HH:MM``; null elsewhere."""
    s = shape.struct
    with_offset = (
        pl.when(s.field("iso") & s.field("offset"))
        .then(text)
        .str.strptime(pl.Datetime("us", "UTC"), "%Y-%m-%dT%H:%M:%S%.f%:z", strict=False)
        .dt.replace_time_zone(None)
    )
    return pl.coalesce(
        _read(text, s.field("iso") & s.field("z"), "%Y-%m-%dT%H:%M:%S%.fZ"), with_offset
    )


def to_utc(local: pl.Expr, offset_minutes: pl.Expr, source_timezone: str) -> pl.Expr:
    """Naive UTC from a naive local time and its explicit offset (else ``source_timezone``)."""
    if source_timezone == "UTC":
        from_zone = local
    else:
        from_zone = (
            local.dt.replace_time_zone(source_timezone, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC")
            .dt.replace_time_zone(None)
        )
    shifted = local - pl.duration(minutes=offset_minutes)
    return pl.when(offset_minutes.is_not_null()).then(shifted).otherwise(from_zone)


def in_year_range(utc: pl.Expr) -> pl.Expr:
    """Null outside the years 1-9999 (an offset or a zone can push a value out)."""
    return pl.when(utc.dt.year().is_between(1, 9999)).then(utc)


def parse_datetime_text(text: pl.Expr, source_timezone: str) -> pl.Expr:
    """Layer 4 on cleaned text in one expression, general parser only (for small frames)."""
    shape = datetime_shape(text)
    local = local_datetime(text, shape, rr_dates(text, shape))
    no_offset = pl.lit(None, pl.Int64)
    zoned = to_utc(local, no_offset, source_timezone)
    return in_year_range(pl.coalesce(explicit_utc(text, shape), zoned))
