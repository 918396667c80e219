"""The raw frame of docs/internals.md from what ``prepare`` is given, and the raw row as JSON.

``prepare`` takes the APISmith client's frame (every column ``pl.String``), any other
Polars frame, or a list of row dicts with mixed values per column. All become the raw
form: one ``pl.String`` column per source column, JSON numbers as their shortest
round-trip text, ``true``/``false`` for booleans, null for null or an absent key.

>>> rows = [{"PART_NO": " p1 ", "LEAD_TIME": 5}, {"LIST_PRICE": 1e20}]
>>> raw = read_rows(rows, ["PART_NO", "LEAD_TIME"])
>>> raw.frame.rows()
[(' p1 ', '5'), (None, None)]
>>> raw.raw_json(pl.Series([1])).to_list()
['{"LIST_PRICE":1e+20}']
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import orjson
import polars as pl

Rows = Sequence[Mapping[str, Any]] | pl.DataFrame


def json_text(value: object) -> str | None:
    """A non-string JSON-ish value as the raw text layers 2-4 read.

    >>> [json_text(v) for v in (None, True, 12, 1000.5, 1e20, float("nan"))]
    [None, 'true', '12', '1000.5', '1e+20', 'NaN']
    """
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return repr(value) if math.isfinite(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    raise TypeError(f"cannot read a {type(value).__name__} value as an ERP column value")


@dataclass(frozen=True)
class RawInput:
    """The raw frame (row i is input row i) and the way back to each input row as JSON."""

    frame: pl.DataFrame
    _rows: Sequence[Mapping[str, Any]] | None
    _original: pl.DataFrame | None

    def raw_json(self, indices: pl.Series) -> pl.Series:
        """The input rows at ``indices`` as JSON objects (only failing rows come here)."""
        if self._original is not None:
            picked = self._original[indices]
            if picked.width == 0:
                return pl.Series("raw_data", ["{}"] * len(indices), pl.String)
            return picked.select(pl.struct(pl.all()).struct.json_encode()).to_series()
        assert self._rows is not None
        rows = self._rows
        return pl.Series("raw_data", [_dump(rows[i]) for i in indices.to_list()], pl.String)


def _dump(row: Mapping[str, Any]) -> str:
    """The row as JSON, exactly as given; the standard library where orjson refuses
    (integers beyond 64 bits, keys that are not strings)."""
    try:
        return orjson.dumps(row).decode()
    except TypeError:
        return json.dumps(row, default=str)


def _list_column(rows: Sequence[Mapping[str, Any]], name: str) -> pl.Series:
    values = [row.get(name) for row in rows]
    try:
        return pl.Series(name, values, pl.String, strict=True)
    except (TypeError, ValueError, pl.exceptions.PolarsError):
        # Mixed column: spell out every non-string value ourselves (floats as repr).
        return pl.Series(name, [json_text(v) for v in values], pl.String)


def _as_text(column: pl.Series) -> pl.Series:
    dtype = column.dtype
    if dtype == pl.String:
        return column
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            utc = column.dt.convert_time_zone("UTC")
            return utc.dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ")
        return column.dt.to_string("%Y-%m-%d %H:%M:%S%.6f")
    if dtype == pl.Date:
        return column.dt.to_string("%Y-%m-%d")
    if (
        dtype.is_numeric()
        or dtype in (pl.Boolean, pl.Null, pl.Categorical)
        or isinstance(dtype, pl.Enum | pl.Decimal)
    ):
        return column.cast(pl.String)
    raise TypeError(f"column {column.name!r}: cannot read {dtype} as an ERP column")


def read_rows(rows: Rows, columns: Sequence[str]) -> RawInput:
    """The raw frame of ``columns`` (a missing column is all null) from ``rows``."""
    if isinstance(rows, pl.DataFrame):
        height = rows.height
        series = [
            _as_text(rows[c]).rename(c)
            if c in rows.columns
            else pl.Series(c, [None] * height, pl.String)
            for c in columns
        ]
        return RawInput(pl.DataFrame(series, height=height), None, rows)
    frame = pl.DataFrame([_list_column(rows, c) for c in columns], height=len(rows))
    return RawInput(frame, rows, None)
