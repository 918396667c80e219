"""Run costly work on the few rows that need it, as a compact column, then spread it back.

Polars string kernels cost about as much on a null as on a value, so masking rows to null
does not make a slow path cheap. ``on_present`` filters the non-null rows out, runs a
function on that short Series (one Python call per column, never per row), and gathers
the results back to their positions: the cost follows the rows that need the work.

>>> import polars as pl
>>> df = pl.DataFrame({"s": ["a", None, "c"]})
>>> upper = on_present(pl.col("s"), lambda s: s.str.to_uppercase(), pl.String())
>>> df.select(upper).to_series().to_list()
['A', None, 'C']
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import polars as pl

SeriesFn = Callable[[pl.Series], pl.Series]


def spread(values: pl.Series, mask: pl.Series) -> pl.Series:
    """``values`` (one per true row of ``mask``) at those rows, null elsewhere."""
    positions = pl.when(pl.col("m")).then(pl.col("m").cast(pl.Int64).cum_sum() - 1)
    frame = pl.DataFrame({"m": mask})
    return frame.select(pl.lit(values).gather(positions)).to_series().rename(values.name)


def apply_present(series: pl.Series, fn: SeriesFn, dtype: pl.DataType) -> pl.Series:
    """``fn`` on the non-null values of ``series`` only; null elsewhere."""
    present = series.is_not_null()
    count = int(present.sum())
    if count == 0:
        return pl.repeat(None, len(series), dtype=dtype, eager=True).rename(series.name)
    if count == len(series):
        return fn(series)
    return spread(fn(series.filter(present)), present)


def on_present(sparse: pl.Expr, fn: SeriesFn, dtype: pl.DataType) -> pl.Expr:
    """An expression: ``fn`` on the non-null rows of ``sparse`` as a compact Series."""
    return sparse.map_batches(
        partial(apply_present, fn=fn, dtype=dtype), return_dtype=dtype, is_elementwise=True
    )
