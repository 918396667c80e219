"""Stages 2-4 (and the hand-off to 5): the five normalization layers as Polars expressions.

``prepare(spec, rows) -> Prepared`` runs them all; the modules hold the layers:
``strings`` (2), ``numeric`` (3), ``datetimes`` (4), ``fields`` (1 and 5), ``defaults``,
``source`` (the raw frame), ``batch`` (``prepare``). Contract: contracts/normalization.md.
"""

from __future__ import annotations

from syncflow_core.normalize.batch import FAILED_SCHEMA, Prepared, prepare
from syncflow_core.normalize.defaults import parse_default
from syncflow_core.normalize.errors import ErrorType, RowError, Stage

__all__ = [
    "FAILED_SCHEMA",
    "ErrorType",
    "Prepared",
    "RowError",
    "Stage",
    "parse_default",
    "prepare",
]
