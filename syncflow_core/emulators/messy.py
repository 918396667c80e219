"""Pools of Oracle-like messy values, already encoded as JSON text.

Every column of the emulated ERP draws its values from a :class:`Pool`: ``good`` values
that normalization (contracts/normalization.md) must accept, in every form the contract
lists, and ``bad`` values that must fail with a known ``error_type``. Pools are built once
per (seed, entity, column) with a seeded :class:`random.Random`, so the data is
deterministic; rows pick from them by hash, so a page of JSON is assembled without a
Python object per value.

>>> import random
>>> pool = number_pool(random.Random(1), lo=0, hi=100, nullable=True)
>>> len(pool.good), pool.bad_errors.unique().sort().to_list()
(4096, ['invalid_number'])
"""

from __future__ import annotations

import datetime as dt
import random
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import orjson
import polars as pl

POOL_SIZE = 4096  # a power of two: an odd step through it never repeats within 4096 versions

INVALID_NUMBER = "invalid_number"
INVALID_INTEGER = "invalid_integer"
INVALID_DATETIME = "invalid_datetime"
INVALID_BOOLEAN = "invalid_boolean"
MISSING_REQUIRED = "missing_required"

Value = str | int | float | None


@dataclass(frozen=True)
class Pool:
    """JSON texts a column may take: accepted ones and ones that must fail."""

    good: pl.Series
    bad: pl.Series
    bad_errors: pl.Series

    @property
    def failable(self) -> bool:
        """Whether this column can be the one that makes a row fail."""
        return self.bad.len() > 0


def encode(value: Value) -> str:
    """One value as JSON text (``null``, a number, or an escaped string)."""
    if isinstance(value, str):
        return orjson.dumps(value).decode()
    return "null" if value is None else repr(value)


def make_pool(good: Sequence[Value], bad: Sequence[tuple[Value, str]] = ()) -> Pool:
    """A pool from decoded values; ``bad`` pairs a value with the error it must raise."""
    return Pool(
        good=pl.Series([encode(v) for v in good], dtype=pl.String),
        bad=pl.Series([encode(v) for v, _ in bad], dtype=pl.String),
        bad_errors=pl.Series([e for _, e in bad], dtype=pl.String),
    )


def drawn(rng: random.Random, make: Callable[[random.Random, int], Value]) -> list[Value]:
    """``POOL_SIZE`` values from ``make(rng, n)``."""
    return [make(rng, n) for n in range(POOL_SIZE)]


# --- strings (layer 2) ---------------------------------------------------------------------

WORDS = (
    "Hex bolt", "Bearing", "Gear wheel", "Drive shaft", "Bracket", "Café crème filter",
    "Größe adapter", "Ñandú valve", "Résistance", "Compression spring", "Washer",
    "Motor housing", "Pump seal", "Łożysko kulkowe", "Ångström gauge", "Flange", "Coupling",
    "Sensor cable", "Control board", "Hydraulic hose", "Crème brûlée mould", "Straße sign",
)  # fmt: skip
CONTROL_CHARS = ("\x00", "\x01", "\x07", "\x0b", "\x0c", "\x1b", "\x7f")
BLANKS: tuple[str, ...] = ("  ", "\r\n", " \t ", "\x01", "\x00 ", "\x7f")


def messy_text(rng: random.Random, text: str) -> str:
    """``text`` dirtied the way Oracle rows are: padding, CRLF, control characters, NFD."""
    return padded(rng, dirty(rng, text))


def dirty(rng: random.Random, text: str) -> str:
    """CRLF or a lone CR for a blank, a control character, a tab, or NFD decomposition."""
    roll = rng.random()
    if roll < 0.15:
        text = text.replace(" ", "\r\n", 1)
    elif roll < 0.22:
        text = text.replace(" ", "\r", 1)
    elif roll < 0.32:
        cut = rng.randrange(len(text) + 1)
        text = text[:cut] + rng.choice(CONTROL_CHARS) + text[cut:]
    elif roll < 0.36:
        text = text.replace(" ", "\t", 1)
    if rng.random() < 0.25:
        text = unicodedata.normalize("NFD", text)
    return text


def padded(rng: random.Random, text: str) -> str:
    """Leading/trailing blanks, as CHAR columns and careless entry leave them."""
    roll = rng.random()
    if roll < 0.2:
        return text + " " * rng.randint(1, 3)
    if roll < 0.3:
        return " " * rng.randint(1, 2) + text
    return text


def text_pool(
    rng: random.Random,
    *,
    max_len: int,
    words: Sequence[str] = WORDS,
    distinct: bool = False,
    nullable: bool = False,
    required: bool = False,
) -> Pool:
    """Free text; ``distinct`` appends ``#n`` so that every value normalizes differently."""

    def make(r: random.Random, n: int) -> Value:
        if nullable and not distinct and r.random() < 0.08:
            return None
        suffix = f" #{n}" if distinct else ""
        core = dirty(r, r.choice(words) + (f" {r.randint(1, 999)}" if r.random() < 0.5 else ""))
        text = padded(r, core + suffix)
        # Too long for the column: cut from the left so that the distinct suffix survives.
        return text if len(text) <= max_len else (core + suffix)[-max_len:]

    return make_pool(drawn(rng, make), blank_failures(nullable) if required else ())


def blank_failures(nullable: bool) -> list[tuple[Value, str]]:
    """Values that become null in layer 2: ``missing_required`` for a required column.

    A NOT NULL column cannot hold SQL NULL (nor ``''``, which Oracle stores as NULL), so
    its failures are blanks and control characters only.
    """
    blanks: list[Value] = [*BLANKS, *((None, "") if nullable else ())]
    return [(b, MISSING_REQUIRED) for b in blanks]


def clob_pool(rng: random.Random) -> Pool:
    """Multi-line notes, mostly null."""

    def make(r: random.Random, n: int) -> Value:
        if r.random() < 0.5:
            return None
        lines = [messy_text(r, r.choice(WORDS) + " " + r.choice(WORDS).lower()) for _ in
                 range(r.randint(1, 5))]  # fmt: skip
        return r.choice(("\r\n", "\n", "\r")).join(lines)

    return make_pool(drawn(rng, make))


def char_pool(
    rng: random.Random, *, length: int, nullable: bool = True, required: bool = False
) -> Pool:
    """CHAR(n): Oracle blank-pads every value to exactly n characters."""

    def make(r: random.Random, n: int) -> Value:
        if nullable and r.random() < 0.08:
            return None
        word = r.choice(WORDS).upper() if length > 3 else r.choice("ABCXYZ")
        return word[:length].ljust(length)

    return make_pool(drawn(rng, make), blank_failures(nullable) if required else ())


def choice_pool(
    rng: random.Random,
    values: Sequence[Value],
    *,
    bad: Sequence[tuple[Value, str]] = (),
) -> Pool:
    """A small vocabulary (units, statuses, flags), drawn with repetition."""
    return make_pool([rng.choice(values) for _ in range(POOL_SIZE)], bad)


def distinct_code_pool(rng: random.Random, prefix: str, digits: int, max_len: int) -> Pool:
    """Codes such as customer numbers: distinct after ``upper`` and trimming."""

    def make(r: random.Random, n: int) -> Value:
        code = f"{prefix}{n:0{digits}d}"
        code = code.lower() if r.random() < 0.2 else code
        text = padded(r, code)
        return text if len(text) <= max_len else code

    return make_pool(drawn(rng, make), blank_failures(nullable=False))


# --- numbers (layer 3) ---------------------------------------------------------------------

NUMBER_FAILURES: tuple[tuple[Value, str], ...] = tuple(
    (v, INVALID_NUMBER)
    for v in ("abc", "N/A", "NaN", "-Infinity", "inf", "1,00", "12.5.3", "--5", "1,0000.5", "12e")
)
INTEGER_FAILURES: tuple[tuple[Value, str], ...] = (
    (3.5, INVALID_INTEGER),
    ("2.25", INVALID_INTEGER),
    (" 7.5 ", INVALID_INTEGER),
    ("(1.5)", INVALID_INTEGER),
    ("abc", INVALID_NUMBER),
    ("1,00", INVALID_NUMBER),
)
CURRENCY_SYMBOLS = ("$", "€", "£", "¥")
CURRENCY_CODES = ("USD", "EUR", "GBP", "JPY", "CHF")


def scientific(value: float) -> str:
    """Exact scientific notation, e.g. ``1.0005E+3`` for 1000.5."""
    d = Decimal(repr(value))
    exponent = d.adjusted()
    mantissa = d.scaleb(-exponent).normalize()
    return f"{mantissa}E{exponent:+d}"


def number_text(rng: random.Random, value: float) -> Value:
    """``value`` as a JSON number or a string in one of layer 3's forms (sign kept)."""
    magnitude, negative = abs(value), value < 0
    plain, grouped = f"{magnitude:.2f}", f"{magnitude:,.2f}"
    if not negative and rng.random() < 0.3:
        return rng.choice((value, int(value) if value == int(value) else value))
    forms: list[str] = [
        plain, grouped, scientific(magnitude) if magnitude else "0",
        rng.choice(CURRENCY_SYMBOLS) + grouped, grouped + " " + rng.choice(CURRENCY_SYMBOLS),
        "$ " + plain, grouped + " " + rng.choice(CURRENCY_CODES),
        rng.choice(CURRENCY_CODES) + " " + plain, "  " + plain + " ",
    ]  # fmt: skip
    text = rng.choice(forms)
    if not negative:
        return "+" + text if rng.random() < 0.05 else text
    return rng.choice(("-" + text, "(" + text + ")", text + "-", "- " + text))


def number_pool(
    rng: random.Random,
    *,
    lo: float,
    hi: float,
    decimals: int = 2,
    nullable: bool = False,
    negative_share: float = 0.0,
    distinct: bool = False,
    failable: bool = True,
) -> Pool:
    """NUMBER / FLOAT values; ``distinct`` makes every value different (a change column)."""

    def make(r: random.Random, n: int) -> Value:
        if nullable and r.random() < 0.1:
            return None
        if distinct:
            value = lo + n + r.choice((0, 0.25, 0.5, 0.75))
        else:
            value = round(r.uniform(lo, hi), decimals)
        if r.random() < negative_share:
            value = -value
        return number_text(r, value)

    return make_pool(drawn(rng, make), NUMBER_FAILURES if failable else ())


def integer_pool(
    rng: random.Random, *, lo: int, hi: int, nullable: bool = False, failable: bool = True
) -> Pool:
    """NUMBER(p) values: JSON integers or integer strings (plain, padded, signed, grouped)."""

    def make(r: random.Random, n: int) -> Value:
        if nullable and r.random() < 0.1:
            return None
        value = r.randint(lo, hi)
        forms: list[Value] = [value, value, str(value), f" {value} ", f"+{value}", f"{value:,}"]
        return r.choice(forms)

    return make_pool(drawn(rng, make), INTEGER_FAILURES if failable else ())


# --- dates (layer 4) -----------------------------------------------------------------------

DATETIME_FAILURES: tuple[tuple[Value, str], ...] = tuple(
    (v, INVALID_DATETIME)
    for v in (
        "2025-13-01", "2025-02-30", "31-FOO-25", "13/45/2025", "yesterday", "2025/12/08",
        "08.12.2025", "2025-12-08T25:00:00", "32-DEC-2025",
    )
)  # fmt: skip
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


def date_text(rng: random.Random, moment: dt.datetime) -> str:
    """``moment`` (naive UTC) in one of layer 4's formats, chosen at random."""
    mon = MONTHS[moment.month - 1]
    mon = rng.choice((mon, mon.lower(), mon.title()))
    fraction = f"{moment.microsecond:06d}"[: rng.randint(1, 6)]
    offset = dt.timedelta(hours=rng.choice((-5, 2, 5.5)))
    local = moment + offset
    sign = "+" if offset >= dt.timedelta(0) else "-"
    hhmm = f"{abs(offset) // dt.timedelta(hours=1):02d}:{abs(offset).seconds // 60 % 60:02d}"
    forms = [
        f"{moment:%Y-%m-%d}",
        f"{moment:%Y-%m-%dT%H:%M:%S}",
        f"{moment:%Y-%m-%dT%H:%M:%S}.{fraction}",
        f"{moment:%Y-%m-%dT%H:%M:%S}Z",
        f"{local:%Y-%m-%dT%H:%M:%S}{sign}{hhmm}",
        f"{moment:%Y-%m-%d %H:%M:%S}",
        f"{moment:%Y-%m-%d %H:%M:%S.%f}",
        f"{moment:%d}-{mon}-{moment:%y}",
        f"{moment:%d}-{mon}-{moment:%Y}",
        f"{moment:%m/%d/%Y}",
    ]
    text = rng.choice(forms)
    return rng.choice((text, text, text, "  " + text + " ", text + "\r\n"))


def date_pool(
    rng: random.Random,
    *,
    first: dt.date = dt.date(2020, 1, 1),
    last: dt.date = dt.date(2030, 12, 31),
    nullable: bool = False,
    failable: bool = True,
) -> Pool:
    """DATE values between ``first`` and ``last``, with some from 1950-1999 (RR years)."""
    span = (last - first).days * 86_400

    def make(r: random.Random, n: int) -> Value:
        if nullable and r.random() < 0.1:
            return None
        if r.random() < 0.05:
            base, seconds = dt.datetime(1950, 1, 1), r.randrange(50 * 365 * 86_400)
        else:
            base, seconds = dt.datetime.combine(first, dt.time()), r.randrange(span)
        micro = r.choice((0, 0, r.randrange(1_000_000)))
        return date_text(r, base + dt.timedelta(seconds=seconds, microseconds=micro))

    return make_pool(drawn(rng, make), DATETIME_FAILURES if failable else ())


# --- flags and raw -------------------------------------------------------------------------

BOOLEAN_FAILURES: tuple[tuple[Value, str], ...] = tuple(
    (v, INVALID_BOOLEAN) for v in ("X", "1", "0", "T", "J")
)


def flag_pool(rng: random.Random, *, failable: bool = True) -> Pool:
    """CHAR(1) Y/N flags (any case), blanks and nulls that the default ``Y`` fills."""
    values: list[Value] = ["Y", "Y", "Y", "N", "y", "n", None, " "]
    return choice_pool(rng, values, bad=BOOLEAN_FAILURES if failable else ())


def raw_pool(rng: random.Random, *, length: int) -> Pool:
    """RAW(n) values as hex text, upper or lower case."""

    def make(r: random.Random, n: int) -> Value:
        text = r.randbytes(r.randint(1, length)).hex()
        return text.upper() if r.random() < 0.5 else text

    return make_pool(drawn(rng, make))
