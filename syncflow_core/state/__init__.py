"""The state store: SQLAlchemy Core tables in schema ``bridge`` and their repositories.

>>> from syncflow_core.state import StateStore
>>> store = StateStore("sqlite://")  # or postgresql+psycopg://..., or None: settings
>>> _ = store.upgrade()              # Alembic to head: the only way tables are created
>>> sorted(vars(store))              # doctest: +NORMALIZE_WHITESPACE
['batches', 'engine', 'failed', 'field_mappings', 'leases', 'pending', 'schedule',
 'sync_state', 'watermarks']
"""

from syncflow_core.state.errors import (
    FrameShapeError,
    MigrationsNotFoundError,
    SchemaNotCurrentError,
    StateError,
    UnknownBatchError,
    UnsupportedDatabaseError,
)
from syncflow_core.state.repositories import (
    STATE_SCHEMA,
    Batch,
    CatalogDrift,
    Lease,
    Slice,
    new_batch_uid,
)
from syncflow_core.state.store import StateStore
from syncflow_core.state.tables import SCHEMA, metadata

__all__ = [
    "SCHEMA",
    "STATE_SCHEMA",
    "Batch",
    "CatalogDrift",
    "FrameShapeError",
    "Lease",
    "MigrationsNotFoundError",
    "SchemaNotCurrentError",
    "Slice",
    "StateError",
    "StateStore",
    "UnknownBatchError",
    "UnsupportedDatabaseError",
    "metadata",
    "new_batch_uid",
]
