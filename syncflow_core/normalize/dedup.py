"""Within one fetch, one row per business key: the newest (normalization.md).

>>> import datetime as dt
>>> import polars as pl
>>> t = dt.datetime(2025, 12, 8)
>>> records = pl.DataFrame({"__row": [0, 1, 2], "erp_key_hash": ["a", "b", "a"],
...                         "erp_rowversion": [t, t, t]})
>>> kept, superseded = keep_newest(records)
>>> kept["__row"].to_list(), superseded
([1, 2], 1)
"""

from __future__ import annotations

import polars as pl

from syncflow_core.identity import KEY_HASH, ROWVERSION
from syncflow_core.normalize.columns import ROW


def keep_newest(records: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """One row per key: the highest rowversion, then the later input row; input order kept.

    Candidates first, cheaply: rows whose 64-bit hash of the key occurs twice (sorted
    neighbours). A hash collision only adds a candidate; the exact key decides among them.
    """
    # The streaming engine leaves many chunks; sorting and hashing want one.
    keys = records.select(ROW, KEY_HASH, ROWVERSION).rechunk()
    hashed = keys.get_column(KEY_HASH).hash()
    ordered = hashed.sort()
    repeated = ordered.filter(ordered == ordered.shift(1)).unique()
    if repeated.len() == 0:
        return records, 0
    candidates = keys.filter(hashed.is_in(repeated.implode()))
    ranked = candidates.sort([KEY_HASH, ROWVERSION, ROW])
    losers = ranked.filter(~pl.col(KEY_HASH).is_last_distinct()).get_column(ROW)
    if losers.len() == 0:
        return records, 0
    return records.filter(~pl.col(ROW).is_in(losers.implode())), losers.len()
