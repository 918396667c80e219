"""Rowversion windows: the daily partitions of an entity, and what to fetch of each.

Partition D of an entity covers the rows whose ROWVERSION is in [D, D+1) (naive UTC).
A window's watermark is the highest ROWVERSION already fully processed in it; a sync of
the window fetches only what lies above it.

>>> w = Window.day(dt.date(2025, 12, 8))
>>> w.key, w.start, w.end
('2025-12-08', datetime.datetime(2025, 12, 8, 0, 0), datetime.datetime(2025, 12, 9, 0, 0))
>>> [x.key for x in Window.days(dt.date(2025, 12, 8), dt.date(2025, 12, 10))]
['2025-12-08', '2025-12-09']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo

UTC = dt.UTC
ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True, order=True)
class Window:
    """A half-open ROWVERSION range [start, end), naive UTC, with a stable key."""

    start: dt.datetime
    end: dt.datetime
    key: str

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("window bounds are naive UTC datetimes")
        if not self.start < self.end:
            raise ValueError(f"empty window {self.start} .. {self.end}")

    @classmethod
    def day(cls, day: dt.date) -> Window:
        """The daily window [D, D+1)."""
        start = dt.datetime.combine(day, dt.time())
        return cls(start, start + ONE_DAY, day.isoformat())

    @classmethod
    def days(cls, first: dt.date, end: dt.date) -> list[Window]:
        """Daily windows from ``first`` up to, not including, ``end``."""
        return [cls.day(first + dt.timedelta(days=i)) for i in range((end - first).days)]

    @classmethod
    def between(cls, start: dt.datetime, end: dt.datetime) -> list[Window]:
        """The daily windows that cover [start, end) (both at midnight UTC)."""
        if start.time() != dt.time() or end.time() != dt.time():
            raise ValueError("a partition range starts and ends at midnight UTC")
        return cls.days(start.date(), end.date())

    @property
    def is_day(self) -> bool:
        """Whether this is exactly one daily window."""
        return self.end - self.start == ONE_DAY and self.start.time() == dt.time()


def utc_naive(value: dt.datetime) -> dt.datetime:
    """An aware datetime as naive UTC; a naive one is taken as UTC already."""
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def to_source_time(value: dt.datetime, source_timezone: str) -> dt.datetime:
    """A naive-UTC bound as the naive local time APISmith compares ROWVERSION in."""
    if source_timezone == "UTC":
        return value
    local = value.replace(tzinfo=UTC).astimezone(ZoneInfo(source_timezone))
    return local.replace(tzinfo=None)


def iter_days(first: dt.date, last_inclusive: dt.date) -> Iterator[dt.date]:
    """Each date from ``first`` to ``last_inclusive``."""
    day = first
    while day <= last_inclusive:
        yield day
        day += ONE_DAY
