"""The per-row reference: contracts/normalization.md and identity.md, read plainly in Python.

One value, one row at a time, with re, unicodedata, datetime/zoneinfo, xxhash and
blake3: slow and obvious. The vectorized ``prepare`` must agree with it on every row.
Where the contracts are silent this file states the choice next to the code; the same
choices are listed in the docstrings of syncflow_core.normalize.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import blake3
import orjson
import xxhash

from syncflow_core.catalog.models import EntitySpec, FieldSpec, ValueType

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# ---------------------------------------------------------------- raw values


def raw_text(value: Any) -> str | None:
    """A JSON value as the raw text of the raw frame (numbers: shortest round-trip text)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return repr(value)
    if isinstance(value, dt.date):  # datetime too: ISO 8601, an accepted layer 4 form
        return value.isoformat()
    raise TypeError(type(value))


# ---------------------------------------------------------------- layer 2

_REMOVED = {chr(c) for c in range(0x20) if chr(c) not in "\n\t"} | {"\x7f"}


def layer2(text: str) -> str | None:
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "".join(ch for ch in text if ch not in _REMOVED)
    text = unicodedata.normalize("NFC", text)
    text = text.strip()  # Python's white space; equals Unicode White_Space once controls are gone
    return text or None


# ---------------------------------------------------------------- layer 3

_W = r"\s*"
_CUR = r"(?:[$€£¥]|[A-Z]{3})"
_GROUPED = r"[0-9]{1,3}(?:,[0-9]{3})+"
_NUM = rf"(?P<num>(?:(?:{_GROUPED}|[0-9]+)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)"


def _with_currency(x: str) -> list[str]:
    return [x, _CUR + _W + x, x + _W + _CUR]


# Every accepted shape, spelled out (choices: .5 and 5. are numbers; one currency at
# most; one of sign / parentheses / trailing minus at most; currency outside parentheses).
_POSITIVE = _with_currency(_NUM)
_SIGNED = [
    rf"(?P<sign>[+-]){_W}{_NUM}",
    rf"{_CUR}{_W}(?P<sign>[+-]){_W}{_NUM}",
    rf"(?P<sign>[+-]){_W}{_CUR}{_W}{_NUM}",
    rf"(?P<sign>[+-]){_W}{_NUM}{_W}{_CUR}",
]
_PARENS = [
    *(rf"(?P<paren>\(){_W}{x}{_W}\)" for x in _with_currency(_NUM)),
    rf"{_CUR}{_W}(?P<paren>\(){_W}{_NUM}{_W}\)",
    rf"(?P<paren>\(){_W}{_NUM}{_W}\){_W}{_CUR}",
]
_TRAILING = [rf"{x}{_W}(?P<trail>-)" for x in _with_currency(_NUM)]
NUMBER_FORMS = [re.compile(f) for f in (*_POSITIVE, *_SIGNED, *_PARENS, *_TRAILING)]


@dataclass(frozen=True)
class Number:
    negative: bool
    int_digits: str
    frac_digits: str
    exponent: int


def parse_number(text: str) -> Number | None:
    for form in NUMBER_FORMS:
        m = form.fullmatch(text)
        if m is None:
            continue
        groups = m.groupdict()
        negative = groups.get("sign") == "-" or bool(groups.get("paren") or groups.get("trail"))
        num = groups["num"]
        mantissa, _, exponent = num.replace(",", "").lower().partition("e")
        int_digits, _, frac_digits = mantissa.partition(".")
        return Number(negative, int_digits, frac_digits, int(exponent or "0"))
    return None


def number_to_float(n: Number) -> float | None:
    value = float(f"{n.int_digits or '0'}.{n.frac_digits or '0'}e{n.exponent}")
    if math.isinf(value):
        return None  # overflow: invalid_number, like NaN and Infinity
    return -value if n.negative else value


def number_to_int(n: Number) -> tuple[int | None, bool]:
    """(value, not_integer): exact; a fractional part or a value beyond int64 is not_integer."""
    digits = int((n.int_digits + n.frac_digits) or "0")
    scale = n.exponent - len(n.frac_digits)
    if digits == 0:
        return 0, False
    if scale >= 0:
        if scale > 40:
            return None, True
        value = digits * 10**scale
    else:
        if -scale > len(str(digits)):
            return None, True  # 0 < |value| < 1
        value, rest = divmod(digits, 10**-scale)
        if rest:
            return None, True
    value = -value if n.negative else value
    if not INT64_MIN <= value <= INT64_MAX:
        return None, True
    return value, False


# ---------------------------------------------------------------- layer 4

_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_FRAC = r"(?:\.(\d{1,6}))?"
_DATE_FORMATS = [
    ("iso_date", re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)),
    (
        "iso_datetime",
        re.compile(
            rf"(\d{{4}})-(\d{{2}})-(\d{{2}})T(\d{{2}}):(\d{{2}}):(\d{{2}}){_FRAC}(Z|[+-]\d{{2}}:\d{{2}})?",
            re.ASCII,
        ),
    ),
    (
        "oracle_timestamp",
        re.compile(
            rf"(\d{{4}})-(\d{{2}})-(\d{{2}}) (\d{{2}}):(\d{{2}}):(\d{{2}}){_FRAC}", re.ASCII
        ),
    ),
    ("dd_mon_rr", re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{2})", re.ASCII)),
    ("dd_mon_yyyy", re.compile(r"(\d{1,2})-([A-Za-z]{3})-(\d{4})", re.ASCII)),
    ("us", re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})", re.ASCII)),
]


def _local(kind: str, g: tuple[str | None, ...]) -> tuple[dt.datetime, str | None]:
    """The naive datetime a format's groups name, and the offset text (raises ValueError)."""
    if kind in ("iso_date", "iso_datetime", "oracle_timestamp"):
        y, mo, d = int(g[0] or 0), int(g[1] or 0), int(g[2] or 0)
        if kind == "iso_date":
            return dt.datetime(y, mo, d), None
        micro = int((g[6] or "").ljust(6, "0") or 0)
        local = dt.datetime(y, mo, d, int(g[3] or 0), int(g[4] or 0), int(g[5] or 0), micro)
        return local, g[7] if kind == "iso_datetime" else None
    if kind in ("dd_mon_rr", "dd_mon_yyyy"):
        day, mon, year_text = g[0] or "", (g[1] or "").upper(), g[2] or ""
        if mon not in _MONTHS:
            raise ValueError(mon)
        year = int(year_text)
        if kind == "dd_mon_rr":
            year += 2000 if year < 50 else 1900
        return dt.datetime(year, _MONTHS.index(mon) + 1, int(day)), None
    return dt.datetime(int(g[2] or 0), int(g[0] or 0), int(g[1] or 0)), None


def _offset(text: str) -> dt.timezone:
    if text == "Z":
        return dt.UTC
    hours, minutes = int(text[1:3]), int(text[4:6])
    if hours > 23 or minutes > 59:
        raise ValueError(text)
    delta = dt.timedelta(hours=hours, minutes=minutes)
    return dt.timezone(-delta if text[0] == "-" else delta)


def parse_datetime(text: str, zone: str) -> dt.datetime | None:
    """Naive UTC, or None when no format takes the text (or the date does not exist)."""
    for kind, pattern in _DATE_FORMATS:
        m = pattern.fullmatch(text)
        if m is None:
            continue
        try:
            local, offset = _local(kind, m.groups())
            if offset is not None:
                aware = local.replace(tzinfo=_offset(offset))
                return aware.astimezone(dt.UTC).replace(tzinfo=None)
            if zone == "UTC":
                return local
            tz = ZoneInfo(zone)
            utc = local.replace(tzinfo=tz, fold=0).astimezone(dt.UTC)
            if utc.astimezone(tz).replace(tzinfo=None) != local:
                return None  # a wall time in a DST gap does not exist: invalid
            return utc.replace(tzinfo=None)
        except (ValueError, OverflowError):
            return None
    return None


# ---------------------------------------------------------------- layers 1 and 5


class RowFailure(Exception):  # noqa: N818  (a row outcome, not a bug)
    def __init__(self, error_type: str) -> None:
        super().__init__(error_type)
        self.error_type = error_type


STAGES = {
    "invalid_number": "normalize",
    "invalid_integer": "normalize",
    "invalid_datetime": "normalize",
    "missing_required": "validate",
    "invalid_boolean": "map",
}


def parse_value(f: FieldSpec, raw: str | None, zone: str) -> Any:
    """Layers 1-4 for one raw text; raises RowFailure."""
    if raw is None:
        return None
    text = layer2(raw)
    if text is None:
        return None
    kind = f.source_type
    if kind is ValueType.STRING:
        return text.lower() if f.oracle.is_raw else text
    if kind is ValueType.DATETIME:
        value = parse_datetime(text, zone)
        if value is None:
            raise RowFailure("invalid_datetime")
        return value
    number = parse_number(text)
    if number is None:
        raise RowFailure("invalid_number")
    if kind is ValueType.FLOAT:
        result = number_to_float(number)
        if result is None:
            raise RowFailure("invalid_number")
        return result
    integer, not_integer = number_to_int(number)
    if not_integer:
        raise RowFailure("invalid_integer")
    return integer


def field_value(f: FieldSpec, raw: str | None, zone: str, required: bool) -> Any:
    """Layers 1-5 for one field; raises RowFailure."""
    value = parse_value(f, raw, zone)
    if value is None and f.default is not None:
        value = parse_value(f, f.default, zone)
    for transform in f.transforms:
        if value is None:
            continue  # a null passes every transform (yn_bool included) as null
        if transform == "upper":
            value = value.upper()
        elif transform == "lower":
            value = value.lower()
        elif value in ("Y", "N"):
            value = value == "Y"
        else:
            raise RowFailure("invalid_boolean")
    if value is None and required:
        raise RowFailure("missing_required")
    return value


# ---------------------------------------------------------------- identity


def enc(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        text = format(Decimal(repr(value)), "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        return "0" if text in ("-0", "0") else text
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="microseconds" if value.microsecond else "seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    assert isinstance(value, str)
    return value.replace("\\", "\\\\").replace("|", "\\|").replace("=", "\\=")


def canon(record: Mapping[str, Any], names: Sequence[str]) -> str:
    return "|".join(f"{name}={enc(record[name])}" for name in sorted(names))


def key_hash(record: Mapping[str, Any], names: Sequence[str]) -> str:
    return xxhash.xxh128_hexdigest(canon(record, names).encode())


def data_hash(record: Mapping[str, Any], names: Sequence[str]) -> str:
    return blake3.blake3(canon(record, names).encode()).hexdigest()


# ---------------------------------------------------------------- a whole batch


@dataclass
class Result:
    records: list[dict[str, Any]]
    failed: list[dict[str, Any]]
    superseded: int


def rowversion_spec(spec: EntitySpec) -> FieldSpec:
    return FieldSpec(
        source=spec.rowversion_column, oracle_type="TIMESTAMP(6)", target="erp_rowversion"
    )


def prepare_rows(
    spec: EntitySpec, rows: Sequence[Mapping[str, Any]], *, raw_json: Sequence[str] | None = None
) -> Result:
    """Stages 2-5 one row at a time. ``raw_json``: the expected raw_data per row."""
    fields = [*spec.fields, rowversion_spec(spec)]
    zone = spec.source_timezone
    passed: list[tuple[int, dict[str, Any]]] = []
    failed: list[dict[str, Any]] = []
    for index, row in enumerate(rows):
        record: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for f in fields:
            required = spec.is_required(f) or f.target == "erp_rowversion"
            try:
                record[f.target] = field_value(f, raw_text(row.get(f.source)), zone, required)
            except RowFailure as failure:
                errors[f.target] = failure.error_type
                record[f.target] = None
        if not errors:
            passed.append((index, record))
            continue
        first = next(f for f in fields if f.target in errors)
        keys_ok = not any(k in errors for k in spec.key_fields)
        failed.append(
            {
                "index": index,
                "raw_data": raw_json[index] if raw_json else dump(row),
                "stage_failed": STAGES[errors[first.target]],
                "error_type": errors[first.target],
                "field": first.target,
                "source": first.source,
                "erp_key_hash": key_hash(record, spec.key_fields) if keys_ok else None,
                "erp_rowversion": record["erp_rowversion"],
            }
        )
    newest: dict[str, tuple[dt.datetime, int, dict[str, Any]]] = {}
    for index, record in passed:
        record["erp_key_hash"] = key_hash(record, spec.key_fields)
        record["erp_data_hash"] = data_hash(record, spec.data_fields)
        known = newest.get(record["erp_key_hash"])
        if known is None or (record["erp_rowversion"], index) > known[:2]:
            newest[record["erp_key_hash"]] = (record["erp_rowversion"], index, record)
    kept = sorted(newest.values(), key=lambda t: t[1])
    return Result([r for _, _, r in kept], failed, len(passed) - len(kept))


def dump(row: Mapping[str, Any]) -> str:
    """The raw row as JSON, exactly as given (orjson; the standard library past its limits)."""
    try:
        return orjson.dumps(row).decode()
    except TypeError:
        return json.dumps(row, default=str)
