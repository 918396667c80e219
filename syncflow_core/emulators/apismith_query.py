"""The query parameters of ``GET /api/v1/runtime/{entity}/execute``, checked (400s).

Choices where the contract is silent: an unknown or repeated parameter is a 400 (a
misspelt ``rowversion_gte`` silently ignored would turn a daily window into a full scan);
bounds are ISO 8601 (``datetime.fromisoformat``: date, date-time, ``T`` or blank, ``Z`` or
an offset, converted to UTC; at most 6 fraction digits, since ROWVERSIONs are µs);
``fields`` names must be served columns, upper case as the schema gives them; ROWVERSION
is always returned, requested or not.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from syncflow_core.emulators.cursor import CursorCodec, CursorError

MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1000
BOUNDS = ("rowversion_gt", "rowversion_ge", "rowversion_lt", "rowversion_le")
PARAMETERS = frozenset({"limit", "cursor", "fields", *BOUNDS})
_LONG_FRACTION = re.compile(r"[.,]\d{7,}")
_EPOCH = dt.datetime(1970, 1, 1)


class BadParameterError(ValueError):
    """A query parameter the contract does not allow (the message goes into ``detail``)."""


@dataclass(frozen=True)
class ExecuteQuery:
    """A checked ``execute`` request: inclusive ROWVERSION range in µs, position, columns."""

    limit: int
    lo: int | None
    hi: int | None
    after: tuple[int, int] | None
    columns: tuple[str, ...]
    bounds_key: str  # what a cursor is bound to


def parse_execute(
    entity: str,
    query: Mapping[str, Sequence[str]],
    *,
    served: Sequence[str],
    rowversion_column: str,
    cursors: CursorCodec,
) -> ExecuteQuery:
    """Check every parameter; :class:`BadParameterError` names the first wrong one."""
    values = _single_values(query)
    limit = _limit(values.get("limit"))
    bounds = {name: _instant(name, values[name]) for name in BOUNDS if name in values}
    lo = _max(bounds.get("rowversion_ge"), _plus(bounds.get("rowversion_gt"), 1))
    hi = _min(bounds.get("rowversion_le"), _plus(bounds.get("rowversion_lt"), -1))
    bounds_key = f"{entity}|" + "|".join(f"{k}={bounds.get(k)}" for k in BOUNDS)
    after = None
    if "cursor" in values:
        try:
            after = cursors.decode(values["cursor"], query=bounds_key)
        except CursorError as exc:
            raise BadParameterError(f"cursor: {exc}") from exc
    columns = _columns(values.get("fields"), served, rowversion_column)
    return ExecuteQuery(limit, lo, hi, after, columns, bounds_key)


def _single_values(query: Mapping[str, Sequence[str]]) -> dict[str, str]:
    for name, given in query.items():
        if name not in PARAMETERS:
            raise BadParameterError(f"unknown query parameter {name!r}")
        if len(given) != 1:
            raise BadParameterError(f"query parameter {name!r} given more than once")
    return {name: given[0] for name, given in query.items()}


def _limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadParameterError(f"limit must be an integer from 1 to {MAX_LIMIT}, got {text!r}")
    return int(text)


def _instant(name: str, text: str) -> int:
    """An ISO 8601 instant as µs since the epoch (naive means UTC)."""
    if _LONG_FRACTION.search(text):
        raise BadParameterError(f"{name}: at most 6 fraction digits, got {text!r}")
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise BadParameterError(f"{name} is not an ISO 8601 date or date-time: {text!r}") from exc
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return (moment - _EPOCH) // dt.timedelta(microseconds=1)


def _columns(text: str | None, served: Sequence[str], rowversion_column: str) -> tuple[str, ...]:
    everything = (*served, rowversion_column)
    if text is None:
        return everything
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise BadParameterError(f"fields has an empty column name: {text!r}")
    unknown = [n for n in names if n not in everything]
    if unknown:
        raise BadParameterError(f"fields names unknown columns {unknown} (see /schema)")
    wanted = {*names, rowversion_column}
    return tuple(n for n in everything if n in wanted)


def _plus(value: int | None, delta: int) -> int | None:
    return None if value is None else value + delta


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)
