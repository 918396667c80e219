"""The emulated table: keyset pages over (ROWVERSION, index), ERP activity, windows."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from syncflow_core.emulators.table import ErpTable

DAY = 86_400_000_000


def scan(
    table: ErpTable, *, limit: int, lo: int | None = None, hi: int | None = None
) -> list[tuple[int, int, int]]:
    """Every (idx, version, rv) of a full keyset scan, page by page."""
    out: list[tuple[int, int, int]] = []
    after = None
    while True:
        page = table.page(lo=lo, hi=hi, after=after, limit=limit)
        assert page.count <= limit
        out += list(page.frame().select("idx", "version", "rv").iter_rows())
        if not page.more:
            return out
        after = page.last()
        assert page.count == limit


def expected(
    table: ErpTable, lo: int | None = None, hi: int | None = None
) -> list[tuple[int, ...]]:
    """The live rows within [lo, hi], sorted by (rv, idx): one row at a time, no pages."""
    state = table.version_of(pl.int_range(0, table.next_idx, eager=True))
    rows = [
        (r["idx"], r["version"], r["rv"])
        for r in state.iter_rows(named=True)
        if not r["deleted"] and (lo is None or r["rv"] >= lo) and (hi is None or r["rv"] <= hi)
    ]
    return sorted(rows, key=lambda r: (r[2], r[0]))


def test_initial_rows_spread_over_the_span_in_index_order() -> None:
    table = ErpTable(base_rows=10, start_us=0, span_us=2 * DAY)
    rows = scan(table, limit=3)
    assert [r[0] for r in rows] == list(range(10))
    assert all(r[1] == 0 for r in rows)
    first_day = scan(table, limit=4, lo=0, hi=DAY - 1)
    assert [r[0] for r in first_day] == [0, 1, 2, 3, 4]


def test_activity_moves_rows_after_everything_with_new_versions() -> None:
    table = ErpTable(base_rows=6, start_us=0, span_us=DAY)
    done = table.apply(change=[2], touch=[4], delete=[0], add=2)
    assert (done.changed, done.touched, done.deleted, done.added) == (1, 1, 1, 2)
    assert done.first_rv == DAY  # the day after the initial span
    rows = scan(table, limit=100)
    assert [r[0] for r in rows] == [1, 3, 5, 2, 4, 6, 7]
    assert dict((r[0], r[1]) for r in rows) == {1: 0, 3: 0, 5: 0, 2: 1, 4: 0, 6: 0, 7: 0}
    again = table.apply(change=[2])
    assert again.first_rv is not None
    assert done.last_rv is not None
    assert again.first_rv > done.last_rv
    assert [r for r in scan(table, limit=100) if r[0] == 2] == [(2, 2, again.first_rv)]


def test_at_places_activity_in_a_later_day_but_never_back_in_time() -> None:
    table = ErpTable(base_rows=4, start_us=0, span_us=DAY)
    later = table.apply(change=[1], at_us=5 * DAY)
    assert later.first_rv == 5 * DAY
    earlier = table.apply(change=[2], at_us=2 * DAY)
    assert earlier.first_rv == 5 * DAY + 1


def test_live_sample_never_picks_deleted_rows() -> None:
    table = ErpTable(base_rows=50, start_us=0, span_us=DAY)
    table.apply(delete=list(range(0, 50, 2)))
    picked = table.live_sample(25, rng_seed=7)
    assert picked.len() == 25
    assert picked.n_unique() == 25
    assert all(i % 2 == 1 for i in picked.to_list())
    assert table.live_sample(100, rng_seed=7).len() == 25


@settings(max_examples=60, deadline=None)
@given(
    base_rows=st.integers(0, 60),
    actions=st.lists(
        st.tuples(
            st.sampled_from(["change", "touch", "delete", "add"]),
            st.lists(st.integers(0, 80), max_size=6),
            st.booleans(),
        ),
        max_size=6,
    ),
    limit=st.integers(1, 17),
    window=st.tuples(st.integers(-5, 3 * 60), st.integers(0, 3 * 60)),
)
def test_pages_equal_a_sorted_reference(
    base_rows: int,
    actions: list[tuple[str, list[int], bool]],
    limit: int,
    window: tuple[int, int],
) -> None:
    """Whatever the activity, a paged scan returns exactly the live rows in the window,
    each once, in (ROWVERSION, index) order."""
    table = ErpTable(base_rows=base_rows, start_us=0, span_us=3 * max(base_rows, 1))
    for kind, indices, later in actions:
        live = [i for i in indices if i < table.next_idx]
        at = table.max_rv + 50 if later else None
        if kind == "add":
            table.apply(add=len(indices), at_us=at)
        else:
            table.apply(**{kind: live}, at_us=at)
    assert scan(table, limit=limit) == expected(table)
    lo, hi = window
    assert scan(table, limit=limit, lo=lo, hi=hi) == expected(table, lo, hi)


def test_a_row_changed_during_a_scan_comes_again_later() -> None:
    table = ErpTable(base_rows=10, start_us=0, span_us=DAY)
    first = table.page(lo=None, hi=None, after=None, limit=4)
    table.apply(change=[1])  # row 1 was on the first page
    rest = scan_from(table, first.last(), limit=4)
    assert [r[0] for r in rest] == [4, 5, 6, 7, 8, 9, 1]


def scan_from(
    table: ErpTable, after: tuple[int, int] | None, *, limit: int
) -> list[tuple[int, ...]]:
    out: list[tuple[int, ...]] = []
    while True:
        page = table.page(lo=None, hi=None, after=after, limit=limit)
        out += list(page.frame().select("idx", "version", "rv").iter_rows())
        if not page.more:
            return out
        after = page.last()


def test_a_cursor_past_the_window_ends_the_scan() -> None:
    table = ErpTable(base_rows=10, start_us=0, span_us=100)
    table.apply(change=[6])  # a moved row between the window's end and the cursor
    page = table.page(lo=0, hi=35, after=(95, 9), limit=5)
    assert page.count == 0
    assert not page.more
