"""One ERP table as the emulator keeps it: row indices, versions and ROWVERSIONs, no rows.

The table never holds its rows; it knows, per row index, the version and ROWVERSION, and
the generator turns those into values. Initially every row ``i < base_rows`` has version
0 and ROWVERSION ``start + i * step`` (strictly rising, so the initial rows spread evenly
over the configured days and a ROWVERSION window maps to an index range in O(1)).

ERP activity writes an *overlay*: the latest (version, ROWVERSION, deleted) of every row it
touched, with ROWVERSIONs above everything issued before. Scans are keyset-paginated by
(ROWVERSION, index): the untouched initial rows first (in index order), then the overlay
rows in ROWVERSION order. A row updated while a scan is under way moves to the overlay
with a higher ROWVERSION, so the scan meets it again: exactly the contract's "may come
again later in the same scan".

>>> table = ErpTable(base_rows=10, start_us=0, span_us=100)
>>> page = table.page(lo=None, hi=None, after=None, limit=3)
>>> page.runs, page.more
([(0, 3)], True)
>>> _ = table.apply(change=[1])
>>> table.page(lo=None, hi=None, after=None, limit=20).frame()["idx"].to_list()
[0, 2, 3, 4, 5, 6, 7, 8, 9, 1]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

ROW_SCHEMA = {"idx": pl.Int64, "version": pl.Int64, "rv": pl.Int64}
OVERLAY_SCHEMA = {**ROW_SCHEMA, "deleted": pl.Boolean}


@dataclass(frozen=True)
class PageRows:
    """A page: runs of untouched initial rows, then overlay rows (idx, version, rv)."""

    runs: list[tuple[int, int]]  # [start, stop) index ranges, in order
    overlay: pl.DataFrame
    more: bool
    step_us: int = 1
    start_us: int = 0

    @property
    def count(self) -> int:
        """Rows on the page."""
        return sum(b - a for a, b in self.runs) + self.overlay.height

    def last(self) -> tuple[int, int] | None:
        """(rv, idx) of the last row: where the next page continues."""
        if self.overlay.height:
            return int(self.overlay["rv"][-1]), int(self.overlay["idx"][-1])
        if self.runs:
            idx = self.runs[-1][1] - 1
            return self.start_us + idx * self.step_us, idx
        return None

    def frame(self) -> pl.DataFrame:
        """All rows as one frame (idx, version, rv)."""
        initial = [
            pl.int_range(a, b, eager=True, dtype=pl.Int64).alias("idx") for a, b in self.runs
        ]
        idx = pl.concat(initial) if initial else pl.Series("idx", [], dtype=pl.Int64)
        base = pl.DataFrame({"idx": idx}).with_columns(
            version=pl.lit(0, dtype=pl.Int64), rv=pl.col("idx") * self.step_us + self.start_us
        )
        return pl.concat([base, self.overlay])


@dataclass(frozen=True)
class Applied:
    """What one batch of activity did: counts and the ROWVERSION range it used (µs)."""

    changed: int
    touched: int
    deleted: int
    added: int
    first_rv: int | None
    last_rv: int | None


class ErpTable:
    """Row versions and ROWVERSIONs of one entity; pages of (idx, version, rv)."""

    def __init__(self, base_rows: int, start_us: int, span_us: int) -> None:
        self.base_rows = base_rows
        self.start_us = start_us
        self.step_us = max(1, span_us // max(base_rows, 1))
        self.activity_floor_us = start_us + span_us  # activity lands after the initial days
        self.next_idx = base_rows
        self.max_rv = self.base_rv(base_rows - 1) if base_rows else start_us - 1
        self._overlay = pl.DataFrame(schema=OVERLAY_SCHEMA)
        self._live = pl.DataFrame(schema=ROW_SCHEMA)  # overlay rows not deleted, by rv
        self._moved = pl.Series("idx", [], dtype=pl.Int64)  # overlay indices, sorted

    # --- the initial layout ------------------------------------------------------------

    def base_rv(self, i: int) -> int:
        """ROWVERSION (µs) of initial row ``i`` before any activity."""
        return self.start_us + i * self.step_us

    def first_base_at(self, rv: int) -> int:
        """The smallest initial index whose ROWVERSION is >= ``rv`` (``base_rows`` if none)."""
        if rv <= self.start_us:
            return 0
        return min(self.base_rows, -(-(rv - self.start_us) // self.step_us))

    @property
    def live_rows(self) -> int:
        """Rows that exist now (initial and added, minus deleted)."""
        return self.next_idx - int(self._overlay["deleted"].sum())

    # --- pages ---------------------------------------------------------------------------

    def page(
        self, *, lo: int | None, hi: int | None, after: tuple[int, int] | None, limit: int
    ) -> PageRows:
        """The first ``limit`` rows with lo <= rv <= hi (µs, inclusive) after the cursor."""
        lo_rv = self.start_us if lo is None else lo
        hi_rv = self.max_rv if hi is None else min(hi, self.max_rv)
        if lo_rv > hi_rv:
            return PageRows([], pl.DataFrame(schema=ROW_SCHEMA), more=False)
        runs = self._initial_runs(lo_rv, hi_rv, after, limit + 1)
        count = sum(stop - start for start, stop in runs)
        overlay = self._overlay_page(lo_rv, hi_rv, after, limit + 1 - count)
        if count > limit:  # one row more than asked says that another page follows
            start, stop = runs[-1]
            runs = [*runs[:-1], (start, stop - 1)] if stop - start > 1 else runs[:-1]
            return PageRows(runs, overlay.clear(), more=True, step_us=self.step_us,
                            start_us=self.start_us)  # fmt: skip
        more = count + overlay.height > limit
        return PageRows(runs, overlay.head(limit - count), more=more, step_us=self.step_us,
                        start_us=self.start_us)  # fmt: skip

    def _initial_runs(
        self, lo: int, hi: int, after: tuple[int, int] | None, want: int
    ) -> list[tuple[int, int]]:
        """Up to ``want`` initial rows the overlay does not hold, as [start, stop) runs."""
        start = self.first_base_at(lo)
        if after is not None:
            start = max(start, self._first_base_after(after))
        end = self.first_base_at(hi + 1)
        if start >= end:
            return []
        stop = min(end, start + want)
        while True:
            moved = self._moved_between(start, stop)
            if stop - start - moved.len() >= want or stop >= end:
                break
            stop = min(end, start + want + moved.len())
        runs, cursor, left = [], start, want
        for hole in [*moved.to_list(), stop]:
            if hole > cursor and left > 0:
                take = min(hole - cursor, left)
                runs.append((cursor, cursor + take))
                left -= take
            cursor = hole + 1
        return runs

    def _first_base_after(self, after: tuple[int, int]) -> int:
        rv, idx = after
        j = self.first_base_at(rv)
        if j < self.base_rows and self.base_rv(j) == rv and j <= idx:
            j += 1
        return j

    def _moved_between(self, start: int, stop: int) -> pl.Series:
        if self._moved.len() == 0:
            return self._moved
        a = int(self._moved.search_sorted(start, side="left"))
        b = int(self._moved.search_sorted(stop, side="left"))
        return self._moved.slice(a, b - a)

    def _overlay_page(
        self, lo: int, hi: int, after: tuple[int, int] | None, want: int
    ) -> pl.DataFrame:
        if want <= 0 or self._live.height == 0:
            return self._live.clear()
        floor = lo if after is None else max(lo, after[0])
        first = int(self._live["rv"].search_sorted(floor, side="left"))
        part = self._live.slice(first, want + 8)  # a few more: rows at the cursor's rv drop
        if after is not None:
            part = part.filter(
                (pl.col("rv") > after[0])
                | ((pl.col("rv") == after[0]) & (pl.col("idx") > after[1]))
            )
        return part.filter(pl.col("rv") <= hi).head(want)

    # --- activity ------------------------------------------------------------------------

    def live_sample(self, count: int, rng_seed: int) -> pl.Series:
        """``count`` distinct live indices, drawn reproducibly (fewer if fewer exist)."""
        deleted = self._overlay.filter(pl.col("deleted"))["idx"]
        count = min(count, self.live_rows)
        if count <= 0:
            return pl.Series("idx", [], dtype=pl.Int64)
        draw = min(self.next_idx, count + deleted.len())
        drawn = pl.int_range(0, self.next_idx, eager=True, dtype=pl.Int64).sample(
            draw, seed=rng_seed, shuffle=True
        )
        return drawn.filter(~drawn.is_in(deleted.implode())).head(count).alias("idx")

    def apply(
        self,
        *,
        change: Sequence[int] | pl.Series = (),
        touch: Sequence[int] | pl.Series = (),
        delete: Sequence[int] | pl.Series = (),
        add: int = 0,
        at_us: int | None = None,
    ) -> Applied:
        """Change (version + 1), touch (same version), delete and add rows, in that order.

        Each row gets its own ROWVERSION, rising from above everything issued so far and
        not before ``at_us`` (default: the end of the initial span, so that activity lands
        in the day after the initial data). An index listed twice is applied twice.
        """
        kinds = [
            _entries(change, "change"), _entries(touch, "touch"), _entries(delete, "delete"),
            _entries(range(self.next_idx, self.next_idx + add), "add"),
        ]  # fmt: skip
        batch = pl.concat(kinds)
        if batch.height == 0:
            return Applied(0, 0, 0, 0, None, None)
        first = max(self.max_rv + 1, self.activity_floor_us if at_us is None else at_us)
        batch = batch.with_columns(rv=pl.int_range(first, first + batch.height, dtype=pl.Int64))
        current = self._overlay.select("idx", "version")
        batch = (
            batch.join(current, on="idx", how="left")
            .with_columns(
                version=pl.col("version").fill_null(0)
                + (pl.col("kind") == "change").cast(pl.Int64),
                deleted=pl.col("kind") == "delete",
            )
            .unique("idx", keep="last", maintain_order=True)
            .select(list(OVERLAY_SCHEMA))
        )
        self._write(batch)
        self.next_idx += add
        self.max_rv = first + sum(k.height for k in kinds) - 1
        return Applied(
            changed=kinds[0].height,
            touched=kinds[1].height,
            deleted=kinds[2].height,
            added=add,
            first_rv=first,
            last_rv=self.max_rv,
        )

    def _write(self, batch: pl.DataFrame) -> None:
        kept = self._overlay.filter(~pl.col("idx").is_in(batch["idx"].implode()))
        self._overlay = pl.concat([kept, batch])
        self._live = self._overlay.filter(~pl.col("deleted")).drop("deleted").sort("rv")
        self._moved = self._overlay["idx"].sort()

    def version_of(self, idx: pl.Series) -> pl.DataFrame:
        """Current (idx, version, rv, deleted) of these indices (for tests and stats)."""
        frame = pl.DataFrame({"idx": idx.cast(pl.Int64)})
        joined = frame.join(self._overlay, on="idx", how="left", maintain_order="left")
        return joined.with_columns(
            version=pl.col("version").fill_null(0),
            rv=pl.col("rv").fill_null(pl.col("idx") * self.step_us + self.start_us),
            deleted=pl.col("deleted").fill_null(False) | (pl.col("idx") >= self.next_idx),
        )


def _entries(indices: Sequence[int] | pl.Series | range, kind: str) -> pl.DataFrame:
    idx = pl.Series("idx", indices, dtype=pl.Int64)
    return pl.DataFrame({"idx": idx, "kind": pl.repeat(kind, idx.len(), eager=True)})
