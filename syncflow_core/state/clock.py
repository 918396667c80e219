"""Naive UTC time: the only kind of timestamp the state store reads or writes.

>>> import datetime as dt
>>> naive_utc(dt.datetime(2025, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2))))
datetime.datetime(2025, 1, 1, 10, 0)
"""

from __future__ import annotations

import datetime as dt


def utcnow() -> dt.datetime:
    """The current time as a naive UTC datetime (microsecond precision)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def naive_utc(value: dt.datetime) -> dt.datetime:
    """An aware datetime converted to naive UTC; a naive one is taken to be UTC already."""
    if value.tzinfo is None:
        return value
    return value.astimezone(dt.UTC).replace(tzinfo=None)


def day_start(value: dt.datetime | dt.date) -> dt.datetime:
    """Midnight (naive UTC) of the day that contains ``value``.

    >>> day_start(dt.date(2025, 3, 4))
    datetime.datetime(2025, 3, 4, 0, 0)
    """
    if isinstance(value, dt.datetime):
        value = naive_utc(value).date()
    return dt.datetime(value.year, value.month, value.day)
