"""One small repository per state table."""

from syncflow_core.state.repositories.batches import Batch, BatchRepository, new_batch_uid
from syncflow_core.state.repositories.failed import FailedRecordRepository
from syncflow_core.state.repositories.field_mappings import (
    CatalogDrift,
    FieldMappingRepository,
    catalog_rows,
)
from syncflow_core.state.repositories.leases import Lease, LeaseRepository
from syncflow_core.state.repositories.pending import PendingChildrenRepository
from syncflow_core.state.repositories.schedule import BackgroundScheduleRepository, Slice
from syncflow_core.state.repositories.sync_state import STATE_SCHEMA, SyncStateRepository
from syncflow_core.state.repositories.watermarks import WatermarkRepository

__all__ = [
    "STATE_SCHEMA",
    "BackgroundScheduleRepository",
    "Batch",
    "BatchRepository",
    "CatalogDrift",
    "FailedRecordRepository",
    "FieldMappingRepository",
    "Lease",
    "LeaseRepository",
    "PendingChildrenRepository",
    "Slice",
    "SyncStateRepository",
    "WatermarkRepository",
    "catalog_rows",
    "new_batch_uid",
]
