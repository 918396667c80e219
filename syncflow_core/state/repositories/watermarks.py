"""``sync_watermarks``: per entity and day, the highest ROWVERSION fully processed.

A daily partition D covers rows with ROWVERSION in [D, D+1). Its watermark W says "every
row of D up to W is synced", so a re-run of D fetches ``rowversion_gt=W&rowversion_lt=D+1``
and a day without a watermark fetches all of D. Because the mark is kept per day, a
backfill of old days after newer ones, or a re-run of a whole range, fetches exactly what
each day still needs.

>>> from syncflow_core.state import StateStore
>>> store = StateStore("sqlite://"); _ = store.upgrade()
>>> day = dt.date(2025, 1, 2)
>>> store.watermarks.raise_to("items", {day: dt.datetime(2025, 1, 2, 18)})
>>> store.watermarks.raise_to("items", {day: dt.datetime(2025, 1, 2, 9)})  # never goes back
>>> store.watermarks.get("items", dt.date(2025, 1, 1), dt.date(2025, 1, 4))
{datetime.datetime(2025, 1, 2, 0, 0): datetime.datetime(2025, 1, 2, 18, 0)}
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from syncflow_core.state.bulk import upsert_frame
from syncflow_core.state.clock import day_start, naive_utc, utcnow
from syncflow_core.state.repositories.base import Repository
from syncflow_core.state.tables import sync_watermarks

T = sync_watermarks
ONE_DAY = dt.timedelta(days=1)
Day = dt.date | dt.datetime
Marks = Mapping[dt.date, dt.datetime] | Mapping[dt.datetime, dt.datetime]


def _day(value: Day) -> dt.datetime:
    start = day_start(value)
    if isinstance(value, dt.datetime) and naive_utc(value) != start:
        raise ValueError(f"a daily window starts at midnight, not at {value.isoformat()}")
    return start


def _checked(marks: Marks) -> dict[dt.datetime, dt.datetime]:
    checked = {}
    for day, mark in marks.items():
        start, mark = _day(day), naive_utc(mark)
        if not start <= mark < start + ONE_DAY:
            raise ValueError(f"watermark {mark.isoformat()} lies outside the day {start.date()}")
        checked[start] = mark
    return checked


class WatermarkRepository(Repository):
    """Read, raise and (for repairs) lower per-day watermarks."""

    def get(
        self, entity: str, start: Day, end: Day, *, conn: Connection | None = None
    ) -> dict[dt.datetime, dt.datetime]:
        """Watermarks of the days in [start, end) that have one: {day start: watermark}."""
        stmt = sa.select(T.c.window_start, T.c.watermark).where(
            T.c.entity == entity, T.c.window_start >= _day(start), T.c.window_start < _day(end)
        )
        with self._read(conn) as c:
            return {day: mark for day, mark in c.execute(stmt.order_by(T.c.window_start))}

    def raise_to(
        self,
        entity: str,
        marks: Marks,
        *,
        batch_uid: str | None = None,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Set each day's watermark, or raise it: a lower value than the stored one is
        ignored (a slow, older run never undoes a newer one's progress)."""
        checked = _checked(marks)
        if not checked:
            return
        frame = pl.DataFrame(
            {"window_start": list(checked), "watermark": list(checked.values())},
            schema={"window_start": pl.Datetime("us"), "watermark": pl.Datetime("us")},
        )
        constants = {
            "entity": entity,
            "batch_uid": batch_uid,
            "updated_at": naive_utc(now or utcnow()),
        }
        with self._write(conn) as c:
            upsert_frame(
                c,
                T,
                frame,
                constants=constants,
                conflict=("entity", "window_start"),
                set_=lambda incoming: {
                    "watermark": incoming.watermark,
                    "batch_uid": incoming.batch_uid,
                    "updated_at": incoming.updated_at,
                },
                where=lambda incoming: incoming.watermark > T.c.watermark,
            )

    def lower_to(
        self,
        entity: str,
        marks: Mapping[dt.date, dt.datetime | None] | Mapping[dt.datetime, dt.datetime | None],
        *,
        batch_uid: str | None = None,
        now: dt.datetime | None = None,
        conn: Connection | None = None,
    ) -> None:
        """Repair: bring each day's watermark down to the given value (a day without a mark,
        or with a lower one, is left alone); ``None`` forgets the day (its next run fetches
        all of it)."""
        forget = [_day(day) for day, mark in marks.items() if mark is None]
        lower = _checked({day: mark for day, mark in marks.items() if mark is not None})
        stamp = naive_utc(now or utcnow())
        stmt = (
            sa.update(T)
            .where(
                T.c.entity == entity,
                T.c.window_start == sa.bindparam("day"),
                T.c.watermark > sa.bindparam("mark"),
            )
            .values(watermark=sa.bindparam("mark"), batch_uid=batch_uid, updated_at=stamp)
        )
        with self._write(conn) as c:
            if forget:
                c.execute(sa.delete(T).where(T.c.entity == entity, T.c.window_start.in_(forget)))
            if lower:
                c.execute(stmt, [{"day": day, "mark": mark} for day, mark in lower.items()])

    def clear(self, entity: str, start: Day, end: Day, *, conn: Connection | None = None) -> int:
        """Forget the watermarks of the days in [start, end); returns how many went."""
        stmt = sa.delete(T).where(
            T.c.entity == entity, T.c.window_start >= _day(start), T.c.window_start < _day(end)
        )
        with self._write(conn) as c:
            return int(c.execute(stmt).rowcount)
