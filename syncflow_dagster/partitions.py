"""Daily partitions: partition D of an entity covers the rows whose ROWVERSION is in [D, D+1).

The first day is ``SYNCFLOW_PARTITIONS_START``; today's partition exists (``end_offset=1``)
so that the 15-minute schedule can sync the day as it fills. Ops read the run's window
from ``context.partition_time_window`` (one day, or a whole range in a single-run
backfill), never ``partition_key``, which a range run does not have.

>>> import datetime as dt
>>> windows_of(dt.datetime(2025, 1, 1, tzinfo=dt.UTC), dt.datetime(2025, 1, 3, tzinfo=dt.UTC))
['2025-01-01', '2025-01-02']
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from syncflow_core.settings import Settings
from syncflow_core.windows import Window, utc_naive


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    """The entities' partitions, from ``settings.partitions_start`` up to today (UTC)."""
    return dg.DailyPartitionsDefinition(
        start_date=settings.partitions_start.isoformat(), timezone="UTC", end_offset=1
    )


def windows_for(time_window: dg.TimeWindow) -> list[Window]:
    """The daily rowversion windows of a partition time window (end exclusive)."""
    return Window.between(utc_naive(time_window.start), utc_naive(time_window.end))


def windows_of(start: dt.datetime, end: dt.datetime) -> list[str]:
    """The partition keys that [start, end) covers."""
    return [w.key for w in Window.between(utc_naive(start), utc_naive(end))]


def today_key(now: dt.datetime | None = None) -> str:
    """Today's partition key (UTC)."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC).date().isoformat()
