"""Small per-value references the generator tests compare against (not a normalizer)."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def layer2(value: str | None) -> str | None:
    """normalization.md layer 2, one value at a time."""
    if value is None:
        return None
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", _CONTROLS.sub("", text)).strip()
    return text or None


NUMBER_FORMS = {
    "grouping": re.compile(r"^\D*\d{1,3}(,\d{3})+(\.\d+)?\D*$"),
    "currency symbol before": re.compile(r"^[-+(]?\s*[$€£¥]"),
    "currency symbol after": re.compile(r"\d\s*[$€£¥]\)?-?$"),
    "currency code before": re.compile(r"^[-+(]?\s*[A-Z]{3} "),
    "currency code after": re.compile(r"\d [A-Z]{3}\)?-?$"),
    "parentheses": re.compile(r"^\(.*\)$"),
    "trailing minus": re.compile(r"\d-$"),
    "exponent": re.compile(r"\dE[+-]\d"),
    "padding": re.compile(r"^\s|\s$"),
}

DATE_FORMS = {
    "iso date": re.compile(r"^\d{4}-\d{2}-\d{2}$"),
    "iso datetime": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$"),
    "iso fraction": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{1,6}$"),
    "iso Z": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$"),
    "iso offset": re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}[+-]\d{2}:\d{2}$"),
    "oracle timestamp": re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$"),
    "oracle timestamp fraction": re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}$"),
    "DD-MON-RR": re.compile(r"^\d{2}-[A-Za-z]{3}-\d{2}$"),
    "DD-MON-RR 19xx": re.compile(r"^\d{2}-[A-Za-z]{3}-[5-9]\d$"),
    "DD-MON-YYYY": re.compile(r"^\d{2}-[A-Za-z]{3}-\d{4}$"),
    "lower-case month": re.compile(r"^\d{2}-[a-z]{3}-\d{2,4}$"),
    "US": re.compile(r"^\d{2}/\d{2}/\d{4}$"),
}

_CURRENCY = re.compile(r"[$€£¥]|\b[A-Z]{3}\b")


def number(value: object) -> float | None:
    """normalization.md layer 3 for the forms the generator emits (None when blank)."""
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    text = layer2(str(value))
    if text is None:
        return None
    text = _CURRENCY.sub("", text).replace(" ", "")
    sign = 1.0
    if text.startswith("(") and text.endswith(")"):
        sign, text = -1.0, text[1:-1]
    elif text.endswith("-"):
        sign, text = -1.0, text[:-1]
    return sign * float(text.replace(",", ""))


def strict_number(value: object) -> float:
    """Like :func:`number` but ValueError for anything layer 3 refuses (NaN, inf, bad groups)."""
    text = layer2(value) if isinstance(value, str) else value
    if isinstance(text, str):
        bare = _CURRENCY.sub("", text).replace(" ", "").strip("()").rstrip("-").lstrip("+-")
        if not re.fullmatch(r"(\d{1,3}(,\d{3})+|\d+)(\.\d+)?([eE][+-]?\d+)?", bare):
            raise ValueError(f"not a number: {value!r}")
    result = number(value)
    if result is None:
        raise ValueError("blank")
    return result


MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})?")
_ORACLE_MON = re.compile(r"(\d{2})-([A-Za-z]{3})-(\d{2}|\d{4})")


def date(value: object) -> dt.datetime:
    """normalization.md layer 4 for one value (naive UTC); ValueError when refused."""
    text = layer2(value) if isinstance(value, str) else None
    if text is None:
        raise ValueError(f"not a date: {value!r}")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return dt.datetime.strptime(text, "%Y-%m-%d")
    if _ISO.fullmatch(text):
        moment = dt.datetime.fromisoformat(text)
        return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment
    for layout in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M:%S.%f", "%m/%d/%Y"):
        try:
            return dt.datetime.strptime(text, layout)
        except ValueError:
            pass
    match = _ORACLE_MON.fullmatch(text)
    if match is None or match[2].upper() not in MONTHS:
        raise ValueError(f"not a date: {value!r}")
    year = int(match[3])
    if len(match[3]) == 2:
        year += 2000 if year < 50 else 1900
    return dt.datetime(year, MONTHS.index(match[2].upper()) + 1, int(match[1]))
