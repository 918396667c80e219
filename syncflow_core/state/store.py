"""``StateStore``: the state store's facade — engine, migrations and the repositories.

>>> from syncflow_core.state import StateStore
>>> with StateStore("sqlite://") as store:
...     _ = store.upgrade()
...     store.revision() == store.head()
True

``StateStore()`` without a URL uses ``SYNCFLOW_DATABASE_URL``, else a SQLite file in the
working directory. Nothing creates tables but ``upgrade()`` (Alembic to head; it then
mirrors the catalog into ``field_mappings``). Every repository method runs in its own
transaction unless given ``conn=`` from :meth:`StateStore.transaction`, which makes several
calls one atomic unit::

    with store.transaction() as conn:
        store.upsert_sync_state("items", done, batch_uid, conn=conn)
        store.failed.add("items", failures, batch_uid, conn=conn)
        store.batches.finish(batch_uid, counts=counts, conn=conn)
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import TracebackType

import polars as pl
from sqlalchemy.engine import Connection, Engine

from syncflow_core.catalog import EntitySpec
from syncflow_core.settings import get_settings
from syncflow_core.state import migrate
from syncflow_core.state.engine import create_state_engine, write_options
from syncflow_core.state.errors import SchemaNotCurrentError
from syncflow_core.state.repositories import (
    BackgroundScheduleRepository,
    BatchRepository,
    CatalogDrift,
    FailedRecordRepository,
    FieldMappingRepository,
    LeaseRepository,
    PendingChildrenRepository,
    SyncStateRepository,
    WatermarkRepository,
)
from syncflow_core.state.repositories.sync_state import KeyHashes

log = logging.getLogger(__name__)


class StateStore:
    """The state store at ``url`` (default: settings ``state_url``)."""

    def __init__(self, url: str | None = None) -> None:
        self.engine: Engine = create_state_engine(url or get_settings().state_url)
        self.batches = BatchRepository(self.engine)
        self.sync_state = SyncStateRepository(self.engine)
        self.failed = FailedRecordRepository(self.engine)
        self.pending = PendingChildrenRepository(self.engine)
        self.watermarks = WatermarkRepository(self.engine)
        self.leases = LeaseRepository(self.engine)
        self.schedule = BackgroundScheduleRepository(self.engine)
        self.field_mappings = FieldMappingRepository(self.engine)

    def __repr__(self) -> str:
        return f"StateStore({self.engine.url!r})"  # SQLAlchemy masks the password

    @property
    def dialect(self) -> str:
        """``postgresql`` or ``sqlite``."""
        return self.engine.dialect.name

    # --- schema ----------------------------------------------------------------------------

    def upgrade(
        self, revision: str = "head", *, catalog: Mapping[str, EntitySpec] | None = None
    ) -> CatalogDrift:
        """Run the migrations up to ``revision``; at head, mirror the catalog (default:
        ``load_catalog()``) into ``field_mappings`` and return (and log) the drift."""
        migrate.upgrade(self.engine, revision)
        if revision != "head":
            return CatalogDrift()
        drift = self.field_mappings.sync(catalog)
        if drift.changed or drift.removed:
            log.warning("field_mappings differed from the catalog, rewritten: %s", drift)
        elif drift.added:
            log.info("field_mappings: catalog entities added: %s", ", ".join(drift.added))
        return drift

    def downgrade(self, revision: str = "base") -> None:
        """Run the migrations down to ``revision`` (default: drop every table)."""
        migrate.downgrade(self.engine, revision)

    def revision(self) -> str | None:
        """The revision the database is at."""
        return migrate.current_revision(self.engine)

    @staticmethod
    def head() -> str:
        """The newest revision of the migrations."""
        return migrate.head_revision()

    def check(self) -> None:
        """:class:`SchemaNotCurrentError` unless the database is at head."""
        current = self.revision()
        if current != self.head():
            raise SchemaNotCurrentError(
                f"state store at revision {current!r}, code needs {self.head()!r}: "
                "run StateStore.upgrade() (or `uv run alembic upgrade head`)"
            )

    # --- transactions ----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One write transaction for several repository calls (pass it as ``conn=``)."""
        with self.engine.connect() as conn:
            conn.execution_options(**write_options())
            with conn.begin():
                yield conn

    # --- the pipeline's fast paths -----------------------------------------------------------

    def load_sync_state(self, entity: str, *, conn: Connection | None = None) -> pl.DataFrame:
        """The entity's whole sync state: ``erp_key_hash, uid, erp_data_hash,
        erp_rowversion`` (see :meth:`SyncStateRepository.load`)."""
        return self.sync_state.load(entity, conn=conn)

    def load_sync_state_for_keys(
        self, entity: str, key_hashes: KeyHashes, *, conn: Connection | None = None
    ) -> pl.DataFrame:
        """The sync state of just these keys (same columns as :meth:`load_sync_state`)."""
        return self.sync_state.load_keys(entity, key_hashes, conn=conn)

    def upsert_sync_state(
        self,
        entity: str,
        frame: pl.DataFrame,
        batch_uid: str,
        *,
        conn: Connection | None = None,
    ) -> int:
        """Insert or replace the state of the keys in ``frame``; returns rows written."""
        return self.sync_state.upsert(entity, frame, batch_uid, conn=conn)

    def delete_sync_state(
        self, entity: str, key_hashes: KeyHashes | Sequence[str], *, conn: Connection | None = None
    ) -> int:
        """Forget these keys' state; returns rows deleted."""
        return self.sync_state.delete(entity, key_hashes, conn=conn)

    # --- lifetime ----------------------------------------------------------------------------

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.dispose()
