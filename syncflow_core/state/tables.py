"""The state store's tables: SQLAlchemy Core, schema ``bridge``.

These definitions are what the repositories query; the Alembic migrations in ``migrations/``
are what creates them (``metadata.create_all`` is never called). A test compares the two.

On SQLite, which has no schemas, the engine maps ``bridge`` to the main database with a
``schema_translate_map`` (see :mod:`syncflow_core.state.engine`), so the same tables and the
same statements serve both databases.

All timestamps are naive UTC (``DateTime`` without time zone), microsecond precision.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

SCHEMA = "bridge"

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "pk": "pk_%(table_name)s",
}

BATCH_KINDS = ("sync", "reconcile", "redrive", "background")
BATCH_STATUSES = ("running", "succeeded", "failed")
FAILED_STATUSES = ("open", "resolved", "dead")
SLICE_STATUSES = ("planned", "running", "done", "failed")
OPS = ("insert", "update", "delete")
STAGES = (
    "fetch",
    "normalize",
    "validate",
    "map",
    "identity",
    "delta",
    "resolve",
    "ingest",
    "track",
)
ROW_COUNTERS = (
    "rows_fetched",
    "rows_normalized",
    "rows_validated",
    "rows_mapped",
    "rows_inserted",
    "rows_updated",
    "rows_deleted",
    "rows_skipped",
    "rows_superseded",
    "rows_pending",
    "rows_failed",
)

metadata = sa.MetaData(schema=SCHEMA, naming_convention=NAMING_CONVENTION)

# SQLite makes only an INTEGER PRIMARY KEY an auto-incrementing rowid alias.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

ENTITY = sa.String(64)
#: the queues' key hashes (``failed_records``, ``pending_children``; the state's are
#: :data:`STATE_KEY_HASH`): 32 hex digits, compared as bytes (on PostgreSQL a collation
#: other than ``C`` compares through ``strcoll``, migration 0004)
KEY_HASH = sa.String(32).with_variant(sa.String(32, collation="C"), "postgresql")
UID = sa.String(36)


class _FromHex(FunctionElement[Any]):
    """Hex text as bytes: ``decode(x, 'hex')`` on PostgreSQL, ``x`` elsewhere."""

    name = "from_hex"
    inherit_cache = True


class _ToHex(FunctionElement[Any]):
    """Bytes as lowercase hex text: ``encode(x, 'hex')`` on PostgreSQL, ``x`` elsewhere."""

    name = "to_hex"
    inherit_cache = True


@compiles(_FromHex)
@compiles(_ToHex)
def _as_is(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(_FromHex, "postgresql")
def _pg_from_hex(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return f"decode({compiler.process(element.clauses, **kw)}, 'hex')"


@compiles(_ToHex, "postgresql")
def _pg_to_hex(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
    return f"encode({compiler.process(element.clauses, **kw)}, 'hex')"


class HexBytes(sa.types.TypeDecorator[str]):
    """A hash: lowercase hex text in Python, in frames and in every statement's values and
    results, stored as its bytes (``bytea``) on PostgreSQL and as the text elsewhere.

    Half the bytes: with 6M keys the state's primary key is 31 % smaller, its table 22 %,
    and a million more inserts took about 30 % less time (migration 0006). Bound
    values pass through ``decode(…, 'hex')`` and selected columns through ``encode(…,
    'hex')`` in the SQL itself, so the bulk paths (``fetchmany`` into Polars, ADBC) see text
    as from any other column; COPY, which has no SQL for its values, writes ``\\x<hex>``
    (:func:`syncflow_core.state.bulk.frames.csv_form_for`). Comparisons and joins between two
    such columns compare the bytes. Only the state's own hashes use it: they are always
    produced by :mod:`syncflow_core.identity` (PostgreSQL refuses a value that is not hex:
    ``invalid hexadecimal digit``).
    """

    impl = sa.String
    cache_ok = True

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.length = length  # hex digits

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.BYTEA())
        return dialect.type_descriptor(sa.String(self.length))

    def bind_expression(self, bindvalue: Any) -> Any:
        return _FromHex(bindvalue)

    def column_expression(self, colexpr: Any) -> Any:
        return _ToHex(colexpr)


#: the state's own key and data hashes (:class:`HexBytes`)
STATE_KEY_HASH = HexBytes(32)
STATE_DATA_HASH = HexBytes(64)


def _one_of(column: str, values: tuple[str, ...], name: str) -> sa.CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)  # constants of this module, not input
    return sa.CheckConstraint(f"{column} IN ({quoted})", name=name)


def _counter(name: str) -> sa.Column[int]:
    return sa.Column(name, sa.BigInteger, nullable=False, server_default="0")


sync_batches = sa.Table(
    "sync_batches",
    metadata,
    sa.Column("batch_uid", UID, primary_key=True, comment="UUID v7"),
    sa.Column("entity", ENTITY, nullable=False),
    sa.Column("kind", sa.String(16), nullable=False, server_default="sync"),
    sa.Column("status", sa.String(16), nullable=False, server_default="running"),
    sa.Column("window_start", sa.DateTime, comment="null for entity-wide work"),
    sa.Column("window_end", sa.DateTime, comment="exclusive; null for entity-wide work"),
    sa.Column("started_at", sa.DateTime, nullable=False),
    sa.Column("finished_at", sa.DateTime),
    *(_counter(name) for name in ROW_COUNTERS),
    sa.Column("success_rate", sa.Float, comment="percent"),
    sa.Column("error_message", sa.Text, comment="the first error"),
    sa.Column("dagster_run_id", sa.String(64)),
    sa.Column("metrics", sa.Text, comment="JSON object: stage durations etc."),
    sa.Column("plan_id", UID, comment="a background batch's plan; null for other batches"),
    _one_of("kind", BATCH_KINDS, "kind"),
    _one_of("status", BATCH_STATUSES, "status"),
    sa.Index(None, "entity", "started_at"),
    sa.Index(None, "dagster_run_id"),
)

failed_records = sa.Table(
    "failed_records",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("batch_uid", UID, nullable=False, comment="the batch where the row failed"),
    sa.Column("last_batch_uid", UID, comment="the batch that last retried it"),
    sa.Column("entity", ENTITY, nullable=False),
    sa.Column("erp_key_hash", KEY_HASH, comment="null when a key field itself failed"),
    sa.Column("erp_rowversion", sa.DateTime),
    sa.Column("stage_failed", sa.String(16), nullable=False),
    sa.Column("error_type", sa.String(64), nullable=False),
    sa.Column("field", sa.String(128)),
    sa.Column("error_message", sa.Text),
    sa.Column("op", sa.String(8)),
    sa.Column("uid", UID),
    sa.Column("raw_data", sa.Text, comment="JSON object"),
    sa.Column("normalized_data", sa.Text, comment="JSON object"),
    sa.Column("mapped_data", sa.Text, comment="JSON object"),
    sa.Column("retry_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_retry_at", sa.DateTime, comment="null: not to be retried"),
    sa.Column("status", sa.String(16), nullable=False, server_default="open"),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.Column("resolution", sa.Text, comment="why a person resolved it by hand; null otherwise"),
    _one_of("stage_failed", STAGES, "stage_failed"),
    _one_of("status", FAILED_STATUSES, "status"),
    sa.CheckConstraint("op IS NULL OR op IN ('insert', 'update', 'delete')", name="op"),
    sa.Index(None, "status", "next_retry_at"),
    sa.Index(None, "entity", "erp_key_hash"),
    sa.Index(None, "batch_uid"),
)

pending_children = sa.Table(
    "pending_children",
    metadata,
    sa.Column("entity", ENTITY, primary_key=True, comment="the child entity"),
    sa.Column("erp_key_hash", KEY_HASH, primary_key=True, comment="the child's key hash"),
    sa.Column("parent_entity", ENTITY, nullable=False, comment="the first missing parent"),
    sa.Column("parent_key_hash", KEY_HASH, nullable=False),
    sa.Column("op", sa.String(8)),
    sa.Column("erp_rowversion", sa.DateTime),
    sa.Column("record", sa.Text, nullable=False, comment="JSON object: the prepared record"),
    sa.Column("batch_uid", UID, nullable=False, comment="the batch that parked it last"),
    sa.Column("retry_count", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_retry_at", sa.DateTime),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.CheckConstraint("op IS NULL OR op IN ('insert', 'update', 'delete')", name="op"),
    sa.Index(None, "next_retry_at"),
    sa.Index(None, "parent_entity", "parent_key_hash"),
)

erp_sync_state = sa.Table(
    "erp_sync_state",
    metadata,
    sa.Column("entity", ENTITY, primary_key=True),
    sa.Column("erp_key_hash", STATE_KEY_HASH, primary_key=True),
    sa.Column("uid", UID, nullable=False, comment="the ScheduleHub uid"),
    sa.Column("erp_data_hash", STATE_DATA_HASH, nullable=False),
    sa.Column("erp_rowversion", sa.DateTime),
    sa.Column("last_batch_uid", UID),
    sa.Column("last_synced_at", sa.DateTime, nullable=False),
    # PostgreSQL: room on each page, so that a day's updates (a few rows per page) are HOT
    # updates (no new index entries). SQLite: rows live in the primary-key B-tree itself
    # (one lookup per key instead of two). Each database ignores the other's option.
    postgresql_with={"fillfactor": 80},
    sqlite_with_rowid=False,
)

sync_watermarks = sa.Table(
    "sync_watermarks",
    metadata,
    sa.Column("entity", ENTITY, primary_key=True),
    sa.Column("window_start", sa.DateTime, primary_key=True, comment="midnight of the day"),
    sa.Column("watermark", sa.DateTime, nullable=False, comment="highest ROWVERSION done"),
    sa.Column("batch_uid", UID, comment="the batch that moved it last"),
    sa.Column("updated_at", sa.DateTime, nullable=False),
)

sync_leases = sa.Table(
    "sync_leases",
    metadata,
    sa.Column("entity", ENTITY, primary_key=True),
    sa.Column("lease_key", sa.String(100), primary_key=True),
    sa.Column("holder", sa.String(200), nullable=False),
    sa.Column("acquired_at", sa.DateTime, nullable=False),
    sa.Column("expires_at", sa.DateTime, nullable=False),
)

background_sync_schedule = sa.Table(
    "background_sync_schedule",
    metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("plan_id", UID, nullable=False),
    sa.Column("entity", ENTITY, nullable=False),
    sa.Column("slice_no", sa.Integer, nullable=False),
    sa.Column("rowversion_lo", sa.DateTime, nullable=False, comment="inclusive"),
    sa.Column("rowversion_hi", sa.DateTime, nullable=False, comment="exclusive"),
    sa.Column("planned_rows", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("status", sa.String(16), nullable=False, server_default="planned"),
    sa.Column("rows_done", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("chunks_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("chunk_bounds", sa.Text, comment="JSON list of chunk boundaries"),
    sa.Column("batch_uid", UID),
    sa.Column("error_message", sa.Text),
    sa.Column(
        "fresh",
        sa.Boolean,
        nullable=False,
        server_default=sa.false(),
        comment="planned while the entity had no state, no ScheduleHub record and no lease",
    ),
    sa.Column("started_at", sa.DateTime),
    sa.Column("finished_at", sa.DateTime),
    sa.Column("created_at", sa.DateTime, nullable=False),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    _one_of("status", SLICE_STATUSES, "status"),
    sa.UniqueConstraint("plan_id", "slice_no"),
    sa.Index(None, "entity", "status"),
)

field_mappings = sa.Table(
    "field_mappings",
    metadata,
    sa.Column("entity", ENTITY, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True, comment="0-based catalog order"),
    sa.Column("source_view", sa.String(128), nullable=False),
    sa.Column("source_column", sa.String(128), nullable=False),
    sa.Column("oracle_type", sa.String(64), nullable=False),
    sa.Column("target_field", sa.String(128), nullable=False),
    sa.Column("transforms", sa.Text, nullable=False, comment="JSON list"),
    sa.Column("default_value", sa.Text),
    sa.Column("required", sa.Boolean, nullable=False),
    sa.Column("is_key", sa.Boolean, nullable=False),
    sa.Column("parent_entity", ENTITY),
    sa.Column("parent_uid_field", sa.String(128)),
    sa.Column("parent_key", sa.String(128)),
    sa.Column("updated_at", sa.DateTime, nullable=False),
    sa.UniqueConstraint("entity", "target_field"),
)
