"""Within one fetch, one row per business key: the newest (normalization.md).

The highest rowversion wins, then the later input row. Only rows that passed layers
1-5 are candidates. Keys compare by their normalized values: equal values are equal
canonical strings (the encoding escapes its separators), so this is the same as
comparing ``erp_key_hash``, without waiting for it and exact.

>>> import datetime as dt
>>> import polars as pl
>>> t = dt.datetime(2025, 12, 8)
>>> rows = pl.DataFrame({"__row": [0, 1, 2], "k": ["a", "b", "a"], "erp_rowversion": [t, t, t]})
>>> superseded_rows(rows, ["k"]).to_list()
[0]
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from syncflow_core.identity import ROWVERSION
from syncflow_core.normalize.columns import ROW


def superseded_rows(passed: pl.DataFrame, key_fields: Sequence[str]) -> pl.Series:
    """The ``ROW`` of every passed row that a newer row with the same key supersedes.

    ``passed``: ``ROW``, the key fields and ``erp_rowversion`` of the rows that passed.
    Candidates first, cheaply: rows whose 64-bit hash of the key occurs twice (sorted
    neighbours); a hash collision only adds a candidate, the exact key decides.
    """
    key = pl.struct(*key_fields) if len(key_fields) > 1 else pl.col(key_fields[0])
    # The streaming engine leaves many chunks; sorting and hashing want one.
    frame = passed.select(ROW, *key_fields, ROWVERSION).rechunk()
    hashed = frame.select(key.hash()).to_series()
    ordered = hashed.sort()
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    if repeated.len() == 0:
        return pl.Series(ROW, [], dtype=frame.schema[ROW])
    candidates = frame.filter(hashed.is_in(repeated.implode()))
    ranked = candidates.sort([*key_fields, ROWVERSION, ROW])
    return ranked.filter(~key.is_last_distinct()).get_column(ROW)
