"""Stages 2-4 (and the hand-off to 5): the five normalization layers as Polars expressions.

``prepare(spec, rows) -> Prepared`` runs them all (contracts/normalization.md, then
identity.md). Modules: ``strings`` (layer 2), ``numeric`` (3), ``datetimes`` (4),
``fields`` (1 and 5: the per-field plans, dense fast paths and compact slow paths),
``defaults`` (``parse_default``), ``source`` (the raw frame from a frame or a list of
dicts), ``digits`` (exact decimal text), ``compact`` (work on the few rows that need it),
``errors`` (``ErrorType``, ``Stage``, ``RowError``), ``failures`` (failed-row records),
``dedup`` (newest row per key), ``columns`` (working column names), ``batch``
(``prepare``, ``Prepared``).

>>> import polars as pl
>>> df = pl.DataFrame({"s": [" 1,000.50 USD\\r\\n", "08-DEC-25"]})
>>> df.select(parse_float_text(clean_text(pl.col("s")))).to_series().to_list()
[1000.5, None]

"""

from __future__ import annotations

from syncflow_core.normalize.batch import Prepared, prepare
from syncflow_core.normalize.datetimes import parse_datetime_text
from syncflow_core.normalize.defaults import parse_default
from syncflow_core.normalize.errors import ErrorType, RowError, Stage
from syncflow_core.normalize.failures import FAILED_SCHEMA
from syncflow_core.normalize.numeric import parse_float_text
from syncflow_core.normalize.strings import clean_text

__all__ = [
    "FAILED_SCHEMA",
    "ErrorType",
    "Prepared",
    "RowError",
    "Stage",
    "clean_text",
    "parse_datetime_text",
    "parse_default",
    "parse_float_text",
    "prepare",
]
