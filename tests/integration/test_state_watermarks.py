"""sync_watermarks: per entity and day; raise only, lower for repairs, bulk get by range."""

from __future__ import annotations

import datetime as dt

import pytest

from syncflow_core.state import StateStore

D1, D2, D3, D5 = (dt.date(2025, 1, d) for d in (1, 2, 3, 5))


def at(day: dt.date, hour: int, micro: int = 0) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, 0, 0, micro)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)


def test_each_day_keeps_its_own_watermark(store: StateStore) -> None:
    # Newer days first, then a backfill of older ones: each day remembers its own progress.
    store.watermarks.raise_to("items", {D5: at(D5, 20)}, batch_uid="b5")
    assert store.watermarks.get("items", D1, D5 + dt.timedelta(days=1)) == {
        midnight(D5): at(D5, 20)
    }
    store.watermarks.raise_to("items", {D1: at(D1, 23, 999999), D2: at(D2, 1)})
    marks = store.watermarks.get("items", D1, dt.date(2025, 1, 6))
    assert marks == {
        midnight(D1): at(D1, 23, 999999),
        midnight(D2): at(D2, 1),
        midnight(D5): at(D5, 20),
    }
    assert D3 not in {day.date() for day in marks}  # never synced: its run fetches all of it
    assert store.watermarks.get("items", D2, D5) == {midnight(D2): at(D2, 1)}  # [start, end)
    assert store.watermarks.get("orders", D1, D5) == {}


def test_a_watermark_only_goes_up(store: StateStore) -> None:
    store.watermarks.raise_to("items", {D2: at(D2, 12)})
    store.watermarks.raise_to("items", {D2: at(D2, 9)})  # a slower, older run finishing late
    assert store.watermarks.get("items", D2, D3) == {midnight(D2): at(D2, 12)}
    store.watermarks.raise_to("items", {midnight(D2): at(D2, 12, 1)})  # datetime keys too
    assert store.watermarks.get("items", D2, D3) == {midnight(D2): at(D2, 12, 1)}


def test_lower_repairs_and_none_forgets(store: StateStore) -> None:
    store.watermarks.raise_to("items", {D1: at(D1, 10), D2: at(D2, 10), D3: at(D3, 10)})
    store.watermarks.lower_to("items", {D1: at(D1, 4), D2: at(D2, 11), D3: None, D5: at(D5, 1)})
    assert store.watermarks.get("items", D1, D5 + dt.timedelta(days=1)) == {
        midnight(D1): at(D1, 4),  # lowered
        midnight(D2): at(D2, 10),  # lowering never raises
    }  # D3 forgotten; D5 had none and still has none


def test_clear_forgets_a_range(store: StateStore) -> None:
    store.watermarks.raise_to("items", {D1: at(D1, 1), D2: at(D2, 1), D5: at(D5, 1)})
    store.watermarks.raise_to("orders", {D1: at(D1, 1)})
    assert store.watermarks.clear("items", D1, D3) == 2
    assert store.watermarks.get("items", D1, dt.date(2025, 2, 1)) == {midnight(D5): at(D5, 1)}
    assert store.watermarks.get("orders", D1, D2) == {midnight(D1): at(D1, 1)}


def test_watermarks_outside_their_day_are_refused(store: StateStore) -> None:
    with pytest.raises(ValueError, match="outside the day"):
        store.watermarks.raise_to("items", {D1: at(D2, 0)})
    with pytest.raises(ValueError, match="outside the day"):
        store.watermarks.raise_to("items", {D2: at(D1, 23)})
    with pytest.raises(ValueError, match="midnight"):
        store.watermarks.raise_to("items", {at(D1, 5): at(D1, 6)})
    assert store.watermarks.get("items", D1, D5) == {}


def test_aware_datetimes_are_taken_as_utc(store: StateStore) -> None:
    cet = dt.timezone(dt.timedelta(hours=1))
    store.watermarks.raise_to("items", {D2: dt.datetime(2025, 1, 2, 13, tzinfo=cet)})
    assert store.watermarks.get("items", D2, D3) == {midnight(D2): at(D2, 12)}
