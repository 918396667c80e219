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

DATETIME_PATTERN = (
    r"^(?:"
    r"(?P<iy>[0-9]{4})-(?P<imo>[0-9]{2})-(?P<id>[0-9]{2})"
    r"(?:(?P<sep>[T ])(?P<h>[0-9]{2}):(?P<mi>[0-9]{2}):(?P<s>[0-9]{2})"
    r"(?:\.(?P<f>[0-9]{1,6}))?(?P<off>Z|(?P<osign>[+-])(?P<oh>[0-9]{2}):(?P<om>[0-9]{2}))?)?"
    r"|(?P<od>[0-9]{1,2})-(?P<mon>[A-Za-z]{3})-(?P<oy>[0-9]{4}|[0-9]{2})"
    r"|(?P<umo>[0-9]{1,2})/(?P<ud>[0-9]{1,2})/(?P<uy>[0-9]{4})"
    r")$"
)
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


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


def _int(field: pl.Expr) -> pl.Expr:
    return field.str.to_integer(strict=False)


def _days_in_month(year: pl.Expr, month: pl.Expr) -> pl.Expr:
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    return (
        pl.when(month == 2)
        .then(pl.when(leap).then(29).otherwise(28))
        .when(month.is_in([4, 6, 9, 11]))
        .then(30)
        .otherwise(31)
    )


def _rr_year(text: pl.Expr) -> pl.Expr:
    """Oracle RR: 00-49 are 20xx, 50-99 are 19xx; four digits stand as written."""
    value = _int(text)
    two = text.str.len_bytes() == 2
    return (
        pl.when(two & (value < 50)).then(value + 2000).when(two).then(value + 1900).otherwise(value)
    )


def datetime_groups(text: pl.Expr) -> pl.Expr:
    """The general parser's capture groups on cleaned text (all null where nothing matches)."""
    return text.str.extract_groups(DATETIME_PATTERN)


def datetime_fields(groups: pl.Expr) -> pl.Expr:
    """Integer fields of ``datetime_groups`` (reads ``groups`` often: pass a column).

    A struct (year, month, day, hour, minute, second, micro, offset_h, offset_m,
    offset, oracle_with_offset); ``offset`` is signed minutes, null without one.
    """
    g = groups.struct
    month_number = (
        g.field("mon")
        .str.to_uppercase()
        .replace_strict(list(MONTHS), list(range(1, 13)), default=None, return_dtype=pl.Int64)
    )
    offset_hours, offset_minutes = _int(g.field("oh")), _int(g.field("om"))
    sign = pl.when(g.field("osign") == "-").then(-1).otherwise(1)
    total = (
        pl.when(g.field("off") == "Z")
        .then(0)
        .otherwise(sign * (offset_hours * 60 + offset_minutes))
    )
    return pl.struct(
        year=pl.coalesce(_int(g.field("iy")), _rr_year(g.field("oy")), _int(g.field("uy"))),
        month=pl.coalesce(_int(g.field("imo")), month_number, _int(g.field("umo"))),
        day=pl.coalesce(_int(g.field("id")), _int(g.field("od")), _int(g.field("ud"))),
        hour=_int(g.field("h")).fill_null(0),
        minute=_int(g.field("mi")).fill_null(0),
        second=_int(g.field("s")).fill_null(0),
        micro=_int(g.field("f").str.pad_end(6, "0")).fill_null(0),
        offset_h=offset_hours.fill_null(0),
        offset_m=offset_minutes.fill_null(0),
        offset=pl.when(g.field("off").is_not_null()).then(total),
        oracle_with_offset=((g.field("sep") == " ") & g.field("off").is_not_null()).fill_null(
            False
        ),
    )


def local_datetime(fields: pl.Expr) -> pl.Expr:
    """The naive datetime of ``datetime_fields``; null where a field is out of range."""
    f = fields.struct
    year, month, day = f.field("year"), f.field("month"), f.field("day")
    valid = (
        (year >= 1)
        & month.is_between(1, 12)
        & day.is_between(1, _days_in_month(year, month))
        & (f.field("hour") <= 23)
        & (f.field("minute") <= 59)
        & (f.field("second") <= 59)
        & (f.field("offset_h") <= 23)
        & (f.field("offset_m") <= 59)
        & ~f.field("oracle_with_offset")
    )
    return pl.datetime(
        pl.when(valid).then(year),
        month,
        day,
        f.field("hour"),
        f.field("minute"),
        f.field("second"),
        f.field("micro"),
        time_unit="us",
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
    """Layer 4 on cleaned text in one expression, general parser only (slow: small frames)."""
    fields = datetime_fields(datetime_groups(text))
    local = local_datetime(fields)
    return in_year_range(to_utc(local, fields.struct.field("offset"), source_timezone))
