"""Does the state's primary key fit in the PostgreSQL server's buffers?

Keys are random 128-bit hashes, so every chunk's state writes land all over
``erp_sync_state``'s primary key. While that index fits in ``shared_buffers`` a write
costs about the same at any table size; once it outgrows them, every chunk reads and
evicts most of the index again, and a background sync slows down slice by slice (the
figures are in ``docs/scale-out.md``, "The state's PostgreSQL"). A plan knows how many
keys it will add, so it can tell before the first slice runs.

>>> fit = CacheFit(index_bytes=300 * MB, added_keys=2_000_000, shared_buffers_bytes=128 * MB)
>>> fit.fits, round(fit.index_mb_after), fit.suggested_shared_buffers_mb
(False, 395, 512)
>>> CacheFit(index_bytes=0, added_keys=1_000_000, shared_buffers_bytes=128 * MB).advice is None
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from syncflow_core.state.tables import erp_sync_state

MB = 1024 * 1024
#: index bytes a key adds to the primary key under random inserts (pages about 70 % full;
#: measured: 297 MB for 6M keys stored as bytes, migration 0006)
INDEX_BYTES_PER_KEY = 50
#: suggestions are rounded up to a multiple of this
SUGGESTION_STEP_MB = 128
#: room left in the buffers beside the index (heap pages, other tables)
HEADROOM = 1.25

_SHARED_BUFFERS = sa.text(
    "SELECT CAST(setting AS bigint) * pg_size_bytes(unit) FROM pg_settings WHERE name = :name"
).bindparams(name="shared_buffers")


@dataclass(frozen=True)
class CacheFit:
    """The state's indexes now and after ``added_keys`` more keys, against the buffers."""

    index_bytes: int
    added_keys: int
    shared_buffers_bytes: int

    @property
    def index_bytes_after(self) -> int:
        return self.index_bytes + self.added_keys * INDEX_BYTES_PER_KEY

    @property
    def index_mb_after(self) -> float:
        return self.index_bytes_after / MB

    @property
    def fits(self) -> bool:
        return self.index_bytes_after <= self.shared_buffers_bytes

    @property
    def suggested_shared_buffers_mb(self) -> int:
        """The index and some room, rounded up to a multiple of ``SUGGESTION_STEP_MB``."""
        wanted = self.index_mb_after * HEADROOM
        return max(1, math.ceil(wanted / SUGGESTION_STEP_MB)) * SUGGESTION_STEP_MB

    @property
    def advice(self) -> str | None:
        """What to change on the server, or ``None`` when the index fits."""
        if self.fits:
            return None
        return (
            f"the state's primary key will be about {self.index_mb_after:,.0f} MB "
            f"({self.index_bytes / MB:,.0f} MB now, {self.added_keys:,} keys to add), more "
            f"than the state server's shared_buffers ({self.shared_buffers_bytes / MB:,.0f} "
            "MB): the state writes will cost more per row as the table grows; set "
            f"shared_buffers to at least {self.suggested_shared_buffers_mb:,} MB "
            "(docs/scale-out.md, 'The state's PostgreSQL')"
        )

    def as_metadata(self) -> dict[str, float]:
        """Figures for a Dagster run or a log line."""
        return {
            "state_index_mb": round(self.index_bytes / MB, 1),
            "state_index_mb_after_plan": round(self.index_mb_after, 1),
            "shared_buffers_mb": round(self.shared_buffers_bytes / MB, 1),
        }


def cache_fit(engine: Engine, added_keys: int) -> CacheFit | None:
    """How the state's indexes, grown by ``added_keys`` keys, compare with the server's
    ``shared_buffers``; ``None`` on SQLite (no separate buffers to size)."""
    if engine.dialect.name != "postgresql":
        return None
    name = f"{erp_sync_state.schema}.{erp_sync_state.name}"
    index = sa.select(sa.func.pg_indexes_size(sa.func.to_regclass(sa.bindparam("table", name))))
    with engine.connect() as conn:
        index_bytes = conn.execute(index).scalar_one()
        buffers = conn.execute(_SHARED_BUFFERS).scalar_one()
    return CacheFit(int(index_bytes or 0), max(0, added_keys), int(buffers))
