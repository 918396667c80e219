"""ROWVERSION bounds of an APISmith scan: a daily partition window, a watermark, or both.

>>> import datetime as dt
>>> window = RowversionBounds.day(dt.date(2025, 12, 8))
>>> window.as_params()
{'rowversion_ge': '2025-12-08T00:00:00', 'rowversion_lt': '2025-12-09T00:00:00'}
>>> window.after(dt.datetime(2025, 12, 8, 10, 30, 0, 123456)).as_params()["rowversion_gt"]
'2025-12-08T10:30:00.123456'
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass


def naive_utc(moment: dt.datetime) -> dt.datetime:
    """An aware datetime converted to naive UTC; a naive one is taken as UTC already."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class RowversionBounds:
    """``gt`` / ``ge`` / ``lt`` / ``le`` on ROWVERSION, naive UTC; any combination (AND)."""

    gt: dt.datetime | None = None
    ge: dt.datetime | None = None
    lt: dt.datetime | None = None
    le: dt.datetime | None = None

    def __post_init__(self) -> None:
        for name in ("gt", "ge", "lt", "le"):
            value = getattr(self, name)
            if value is not None:
                if not isinstance(value, dt.datetime):
                    raise TypeError(f"RowversionBounds.{name} must be a datetime, got {value!r}")
                object.__setattr__(self, name, naive_utc(value))

    @classmethod
    def day(cls, day: dt.date) -> RowversionBounds:
        """The daily partition [D, D+1): ``rowversion_ge=D&rowversion_lt=D+1``."""
        start = dt.datetime.combine(day, dt.time())
        return cls(ge=start, lt=start + dt.timedelta(days=1))

    @classmethod
    def window(cls, start: dt.datetime, end: dt.datetime) -> RowversionBounds:
        """[start, end), e.g. a Dagster partition time window."""
        return cls(ge=start, lt=end)

    def after(self, watermark: dt.datetime | None) -> RowversionBounds:
        """The same bounds, only rows strictly newer than ``watermark`` (None: unchanged)."""
        return self if watermark is None else dataclasses.replace(self, gt=watermark)

    def contains(self, moment: dt.datetime) -> bool:
        """Whether a ROWVERSION lies within the bounds."""
        moment = naive_utc(moment)
        return (
            (self.gt is None or moment > self.gt)
            and (self.ge is None or moment >= self.ge)
            and (self.lt is None or moment < self.lt)
            and (self.le is None or moment <= self.le)
        )

    def as_params(self) -> dict[str, str]:
        """Query parameters, ISO 8601 (microseconds only when not zero)."""
        return {
            f"rowversion_{name}": value.isoformat()
            for name in ("gt", "ge", "lt", "le")
            if (value := getattr(self, name)) is not None
        }
