"""The emulated ERP behind APISmith: tables, generators, served schema, rendered pages.

No HTTP here (see :mod:`syncflow_core.emulators.apismith`): this is what the facade reads
from and what the ERP-activity and schema-drift controls write to.

Initial rows are rendered a chunk at a time (``chunk_rows`` rows, one vectorized pass)
and kept in a byte-bounded LRU cache per (entity, schema epoch, chunk, columns) that reads
the next chunk ahead (:mod:`syncflow_core.emulators.chunks`), so a scan costs one slice
per page; rows the activity moved to the overlay are rendered per page.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from syncflow_core.catalog import EntitySpec, parse_oracle_type
from syncflow_core.emulators import erp_model
from syncflow_core.emulators.chunks import ChunkCache, RenderedChunk
from syncflow_core.emulators.erp_model import ColumnInfo
from syncflow_core.emulators.generator import EntityGenerator
from syncflow_core.emulators.hashing import below, mix, salt
from syncflow_core.emulators.table import Applied, ErpTable

EPOCH = dt.datetime(1970, 1, 1)
ROWVERSION_TYPE = "TIMESTAMP(6)"


def _with_raw(
    state: EntityState, rows: pl.DataFrame, columns: Sequence[str], texts: pl.Series
) -> pl.Series:
    """``texts`` with the rows that have raw values rebuilt around them (a few rows: one
    Python step each)."""
    hit = rows["idx"].is_in(list(state.raw))
    if not hit.any():
        return texts
    encoded = state.generator.encode(rows.filter(hit), columns)
    rebuilt = []
    for idx, values in zip(rows.filter(hit)["idx"], encoded.iter_rows(), strict=True):
        raw = state.raw[idx]
        pairs = (
            f'"{name}":{raw.get(name, value)}' for name, value in zip(columns, values, strict=True)
        )
        rebuilt.append("{" + ",".join(pairs) + "}")
    out = texts.to_list()
    for position, text in zip(hit.arg_true(), rebuilt, strict=True):
        out[position] = text
    return pl.Series(texts.name, out, dtype=pl.String)


def to_us(moment: dt.datetime) -> int:
    """Naive-UTC datetime -> µs since the epoch."""
    return (moment - EPOCH) // dt.timedelta(microseconds=1)


def from_us(us: int) -> dt.datetime:
    """µs since the epoch -> naive-UTC datetime."""
    return EPOCH + dt.timedelta(microseconds=us)


@dataclass(frozen=True)
class ErpOptions:
    """What shapes the emulated data (a subset of ``ApiSmithConfig``)."""

    sizes: Mapping[str, int]
    seed: int
    start_day: dt.date
    days: int
    failing_share: float
    late_parent_share: float
    future_parent_share: float
    chunk_rows: int
    cache_bytes: int


@dataclass
class Page:
    """One rendered page: the rows' JSON objects joined by commas, and where it ended."""

    rows_json: bytes
    rows: int
    last: tuple[int, int] | None  # (rowversion µs, idx) of the last row
    more: bool


class EntityState:
    """Table, generator and served columns of one entity."""

    def __init__(self, spec: EntitySpec, options: ErpOptions) -> None:
        self.spec = spec
        start = dt.datetime.combine(options.start_day, dt.time())
        self.table = ErpTable(
            base_rows=options.sizes.get(spec.name, 0),
            start_us=to_us(start),
            span_us=options.days * 86_400_000_000,
        )
        self.generator = EntityGenerator(
            spec,
            seed=options.seed,
            sizes=options.sizes,
            days=options.days,
            failing_share=options.failing_share,
            late_parent_share=options.late_parent_share,
            future_parent_share=options.future_parent_share,
        )
        self.catalog_columns = {c.name: c for c in erp_model.columns_of(spec)}
        self.served: list[ColumnInfo] = list(self.catalog_columns.values())
        self.activity_calls = 0
        self.epoch = 0  # bumped by schema drift: keys of rendered chunks include it
        self.raw: dict[int, dict[str, str]] = {}  # idx -> column -> JSON text served verbatim

    @property
    def column_names(self) -> list[str]:
        """Served columns, ROWVERSION last."""
        return [*(c.name for c in self.served), self.spec.rowversion_column]

    def schema(self) -> dict[str, object]:
        """The ``/schema`` answer."""
        columns = [
            {"name": c.name, "type": c.oracle.text, "nullable": c.nullable} for c in self.served
        ]
        columns.append(
            {"name": self.spec.rowversion_column, "type": ROWVERSION_TYPE, "nullable": False}
        )
        return {
            "entity": self.spec.name,
            "columns": columns,
            "rowversion_column": self.spec.rowversion_column,
        }


class EmulatedErp:
    """All entities of a catalog, with ERP activity and schema drift (thread-safe)."""

    def __init__(self, catalog: Mapping[str, EntitySpec], options: ErpOptions) -> None:
        self.options = options
        self.entities = {name: EntityState(spec, options) for name, spec in catalog.items()}
        self.lock = threading.RLock()
        self._chunks = ChunkCache(options.cache_bytes)
        self.scan_updates = 0

    # --- pages ---------------------------------------------------------------------------

    def page(
        self,
        entity: str,
        *,
        lo: int | None,
        hi: int | None,
        after: tuple[int, int] | None,
        limit: int,
        columns: Sequence[str],
        scan_update_share: float = 0.0,
    ) -> Page:
        """Render the rows after ``after`` within [lo, hi] (µs, inclusive)."""
        with self.lock:
            state = self.entities[entity]
            rows = state.table.page(lo=lo, hi=hi, after=after, limit=limit)
            parts = [self._run_bytes(state, run, tuple(columns), rows.more) for run in rows.runs]
            if rows.overlay.height:
                texts = state.generator.row_texts(rows.overlay, columns)
                if state.raw:
                    texts = _with_raw(state, rows.overlay, columns, texts)
                parts.append(texts.str.join(",").cast(pl.Binary).item())
            if scan_update_share > 0 and rows.count:
                self._update_during_scan(state, rows.frame(), scan_update_share)
        return Page(b",".join(parts), rows.count, rows.last(), rows.more)

    def _run_bytes(
        self, state: EntityState, run: tuple[int, int], columns: tuple[str, ...], more: bool
    ) -> bytes:
        """Initial rows [start, stop) as JSON objects joined by commas, from cached chunks."""
        size, (start, stop) = self.options.chunk_rows, run
        pieces = []
        while start < stop:
            chunk = start // size
            rendered = self._chunks.get(self._key(state, chunk, columns),
                                        self._renderer(state, chunk, columns))  # fmt: skip
            end = min(stop, (chunk + 1) * size)
            pieces.append(rendered.rows(start - chunk * size, end - chunk * size))
            start = end
        following = stop // size + (stop % size > 0)
        if more and following * size < state.table.base_rows:
            self._chunks.read_ahead(
                self._key(state, following, columns), self._renderer(state, following, columns)
            )
        return b",".join(pieces)

    @staticmethod
    def _key(state: EntityState, chunk: int, columns: tuple[str, ...]) -> tuple[object, ...]:
        return (state.spec.name, state.epoch, chunk, columns)

    def _renderer(
        self, state: EntityState, chunk: int, columns: tuple[str, ...]
    ) -> Callable[[], RenderedChunk]:
        size, table, generator = self.options.chunk_rows, state.table, state.generator

        def render() -> RenderedChunk:
            idx = pl.int_range(chunk * size, min((chunk + 1) * size, table.base_rows), eager=True)
            rows = pl.DataFrame(
                {"idx": idx, "version": pl.repeat(0, idx.len(), eager=True, dtype=pl.Int64),
                 "rv": idx * table.step_us + table.start_us}
            )  # fmt: skip
            texts = generator.row_texts(rows, columns)
            blob = texts.str.join(",").cast(pl.Binary).item()
            return RenderedChunk(blob, [0, *(texts.str.len_bytes() + 1).cum_sum().to_list()])

        return render

    def _update_during_scan(self, state: EntityState, rows: pl.DataFrame, share: float) -> None:
        """ERP users editing rows while the scan runs: some served rows change again."""
        row_hash = mix(mix(pl.col("idx").cast(pl.UInt64)) + pl.col("version").cast(pl.UInt64))
        hit = rows.filter(
            below(row_hash, salt(self.options.seed, state.spec.name, "scan-update"), share)
        )["idx"]
        if hit.len():
            state.table.apply(change=hit)
            self.scan_updates += hit.len()

    # --- activity and drift ---------------------------------------------------------------

    def activity(
        self,
        entity: str,
        *,
        change: int,
        touch: int,
        delete: int,
        add: int,
        at: dt.datetime | None = None,
    ) -> Applied:
        """Change, touch, delete (distinct live rows drawn at random) and add rows."""
        with self.lock:
            state = self.entities[entity]
            state.activity_calls += 1
            seed = salt(self.options.seed, entity, "activity", state.activity_calls) >> 1
            picked = state.table.live_sample(change + touch + delete, seed)
            return state.table.apply(
                change=picked.slice(0, change),
                touch=picked.slice(change, touch),
                delete=picked.slice(change + touch, delete),
                add=add,
                at_us=to_us(at) if at is not None else None,
            )

    def add_raw_rows(
        self, entity: str, rows: Sequence[Mapping[str, str]], *, at: dt.datetime | None = None
    ) -> Applied:
        """Add rows whose given columns are served verbatim: each value is the JSON text of
        the value (``'"1,2.3"'``, ``'null'``, ``'"\\ud800"'``, ``'1e999'``), even one no
        Python string can hold; columns not given are drawn as for any added row."""
        with self.lock:
            state = self.entities[entity]
            served = {c.name for c in state.served}
            for row in rows:
                unknown = set(row) - served
                if unknown:
                    raise ValueError(f"{entity} serves no column(s) {sorted(unknown)}")
            first = state.table.next_idx
            applied = state.table.apply(add=len(rows), at_us=to_us(at) if at is not None else None)
            state.raw.update({first + i: dict(row) for i, row in enumerate(rows)})
            return applied

    def drift(
        self, entity: str, *, add: Sequence[tuple[str, str | None]], drop: Sequence[str]
    ) -> dict[str, object]:
        """Drop served columns and add new (or restore dropped) ones; returns the schema."""
        with self.lock:
            state = self.entities[entity]
            served = {c.name: c for c in state.served}
            for name in drop:
                if name == state.spec.rowversion_column or name not in served:
                    raise ValueError(f"{entity} serves no droppable column {name!r}")
                del served[name]
            for name, oracle_type in add:
                served[name] = self._added_column(state, served, name, oracle_type)
            order = list(state.catalog_columns)
            state.served = sorted(
                served.values(),
                key=lambda c: order.index(c.name) if c.name in order else len(order),
            )
            state.epoch += 1
            self._chunks.discard(lambda key: key[:2] != (entity, state.epoch - 1))  # type: ignore[index]
            return state.schema()

    def _added_column(
        self, state: EntityState, served: Mapping[str, ColumnInfo], name: str, type_: str | None
    ) -> ColumnInfo:
        if name in served or name == state.spec.rowversion_column:
            raise ValueError(f"{state.spec.name} already serves {name!r}")
        original = state.catalog_columns.get(name)
        if original is not None and type_ in (None, original.oracle.text):
            state.generator.define(original, first_key=False)
            return original
        if type_ is None:
            raise ValueError(f"new column {name!r} needs an Oracle type")
        info = ColumnInfo(name=name, oracle=parse_oracle_type(type_), nullable=True)
        state.generator.define(info)
        return info

    def close(self) -> None:
        """Stop the read-ahead worker (the emulator still answers, rendering on demand)."""
        self._chunks.close()

    def live_rows(self, entity: str) -> pl.DataFrame:
        """Every live row (idx, version, rv) in scan order (tests compare against it)."""
        with self.lock:
            table = self.entities[entity].table
            return table.page(lo=None, hi=None, after=None, limit=table.next_idx + 1).frame()
