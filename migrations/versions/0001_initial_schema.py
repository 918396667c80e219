"""Initial state schema: the six seed tables plus sync_watermarks and sync_leases.

Revision ID: 0001
Revises:
Create Date: 2025-11-26

A frozen copy of syncflow_core/state/tables.py as of this revision (a migration never
imports the live table definitions: they move on, a migration must not).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "bridge"
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
COUNTERS = (
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
OP_CHECK = "op IS NULL OR op IN ('insert', 'update', 'delete')"


def _uid(name: str, nullable: bool = True, comment: str | None = None) -> sa.Column:
    return sa.Column(name, sa.String(36), nullable=nullable, comment=comment)


def _at(name: str, nullable: bool = False, comment: str | None = None) -> sa.Column:
    return sa.Column(name, sa.DateTime(), nullable=nullable, comment=comment)


def _zero(name: str, type_: sa.types.TypeEngine) -> sa.Column:
    return sa.Column(name, type_, server_default="0", nullable=False)


def _index(table: str, *columns: str) -> None:
    op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns), schema=SCHEMA)


def upgrade() -> None:
    _sync_batches()
    _failed_records()
    _pending_children()
    _erp_sync_state()
    _sync_watermarks()
    _sync_leases()
    _background_sync_schedule()
    _field_mappings()


def downgrade() -> None:
    for table in (
        "field_mappings",
        "background_sync_schedule",
        "sync_leases",
        "sync_watermarks",
        "erp_sync_state",
        "pending_children",
        "failed_records",
        "sync_batches",
    ):
        op.drop_table(table, schema=SCHEMA)  # drops its indexes with it


def _sync_batches() -> None:
    op.create_table(
        "sync_batches",
        _uid("batch_uid", nullable=False, comment="UUID v7"),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), server_default="sync", nullable=False),
        sa.Column("status", sa.String(16), server_default="running", nullable=False),
        _at("window_start", nullable=True, comment="null for entity-wide work"),
        _at("window_end", nullable=True, comment="exclusive; null for entity-wide work"),
        _at("started_at"),
        _at("finished_at", nullable=True),
        *(_zero(name, sa.BigInteger()) for name in COUNTERS),
        sa.Column("success_rate", sa.Float(), nullable=True, comment="percent"),
        sa.Column("error_message", sa.Text(), nullable=True, comment="the first error"),
        sa.Column("dagster_run_id", sa.String(64), nullable=True),
        sa.Column("metrics", sa.Text(), nullable=True, comment="JSON object: stage durations etc."),
        sa.CheckConstraint(
            "kind IN ('sync', 'reconcile', 'redrive', 'background')",
            name=op.f("ck_sync_batches_kind"),
        ),
        sa.CheckConstraint(
            "status IN ('running', 'succeeded', 'failed')", name=op.f("ck_sync_batches_status")
        ),
        sa.PrimaryKeyConstraint("batch_uid", name="pk_sync_batches"),
        schema=SCHEMA,
    )
    _index("sync_batches", "entity", "started_at")
    _index("sync_batches", "dagster_run_id")


def _failed_records() -> None:
    stages = (
        "'fetch', 'normalize', 'validate', 'map', 'identity', 'delta', 'resolve', 'ingest', 'track'"
    )
    op.create_table(
        "failed_records",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _uid("batch_uid", nullable=False, comment="the batch where the row failed"),
        _uid("last_batch_uid", comment="the batch that last retried it"),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column(
            "erp_key_hash",
            sa.String(32),
            nullable=True,
            comment="null when a key field itself failed",
        ),
        _at("erp_rowversion", nullable=True),
        sa.Column("stage_failed", sa.String(16), nullable=False),
        sa.Column("error_type", sa.String(64), nullable=False),
        sa.Column("field", sa.String(128), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("op", sa.String(8), nullable=True),
        _uid("uid"),
        sa.Column("raw_data", sa.Text(), nullable=True, comment="JSON object"),
        sa.Column("normalized_data", sa.Text(), nullable=True, comment="JSON object"),
        sa.Column("mapped_data", sa.Text(), nullable=True, comment="JSON object"),
        _zero("retry_count", sa.Integer()),
        _at("next_retry_at", nullable=True, comment="null: not to be retried"),
        sa.Column("status", sa.String(16), server_default="open", nullable=False),
        _at("created_at"),
        _at("updated_at"),
        sa.CheckConstraint(OP_CHECK, name=op.f("ck_failed_records_op")),
        sa.CheckConstraint(
            f"stage_failed IN ({stages})", name=op.f("ck_failed_records_stage_failed")
        ),
        sa.CheckConstraint(
            "status IN ('open', 'resolved', 'dead')", name=op.f("ck_failed_records_status")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_failed_records"),
        schema=SCHEMA,
    )
    _index("failed_records", "status", "next_retry_at")
    _index("failed_records", "entity", "erp_key_hash")
    _index("failed_records", "batch_uid")


def _pending_children() -> None:
    op.create_table(
        "pending_children",
        sa.Column("entity", sa.String(64), nullable=False, comment="the child entity"),
        sa.Column("erp_key_hash", sa.String(32), nullable=False, comment="the child's key hash"),
        sa.Column(
            "parent_entity", sa.String(64), nullable=False, comment="the first missing parent"
        ),
        sa.Column("parent_key_hash", sa.String(32), nullable=False),
        sa.Column("op", sa.String(8), nullable=True),
        _at("erp_rowversion", nullable=True),
        sa.Column("record", sa.Text(), nullable=False, comment="JSON object: the prepared record"),
        _uid("batch_uid", nullable=False, comment="the batch that parked it last"),
        _zero("retry_count", sa.Integer()),
        _at("next_retry_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.CheckConstraint(OP_CHECK, name=op.f("ck_pending_children_op")),
        sa.PrimaryKeyConstraint("entity", "erp_key_hash", name="pk_pending_children"),
        schema=SCHEMA,
    )
    _index("pending_children", "next_retry_at")
    _index("pending_children", "parent_entity", "parent_key_hash")


def _erp_sync_state() -> None:
    op.create_table(
        "erp_sync_state",
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("erp_key_hash", sa.String(32), nullable=False),
        _uid("uid", nullable=False, comment="the ScheduleHub uid"),
        sa.Column("erp_data_hash", sa.String(64), nullable=False),
        _at("erp_rowversion", nullable=True),
        _uid("last_batch_uid"),
        _at("last_synced_at"),
        sa.PrimaryKeyConstraint("entity", "erp_key_hash", name="pk_erp_sync_state"),
        schema=SCHEMA,
        postgresql_with={"fillfactor": 80},  # room for HOT updates; ignored by SQLite
        sqlite_with_rowid=False,  # rows in the key's B-tree; ignored by PostgreSQL
    )


def _sync_watermarks() -> None:
    op.create_table(
        "sync_watermarks",
        sa.Column("entity", sa.String(64), nullable=False),
        _at("window_start", comment="midnight of the day"),
        _at("watermark", comment="highest ROWVERSION done"),
        _uid("batch_uid", comment="the batch that moved it last"),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("entity", "window_start", name="pk_sync_watermarks"),
        schema=SCHEMA,
    )


def _sync_leases() -> None:
    op.create_table(
        "sync_leases",
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("lease_key", sa.String(100), nullable=False),
        sa.Column("holder", sa.String(200), nullable=False),
        _at("acquired_at"),
        _at("expires_at"),
        sa.PrimaryKeyConstraint("entity", "lease_key", name="pk_sync_leases"),
        schema=SCHEMA,
    )


def _background_sync_schedule() -> None:
    op.create_table(
        "background_sync_schedule",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        _uid("plan_id", nullable=False),
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("slice_no", sa.Integer(), nullable=False),
        _at("rowversion_lo", comment="inclusive"),
        _at("rowversion_hi", comment="exclusive"),
        _zero("planned_rows", sa.BigInteger()),
        sa.Column("status", sa.String(16), server_default="planned", nullable=False),
        _zero("rows_done", sa.BigInteger()),
        _zero("chunks_done", sa.Integer()),
        _uid("batch_uid"),
        sa.Column("error_message", sa.Text(), nullable=True),
        _at("started_at", nullable=True),
        _at("finished_at", nullable=True),
        _at("created_at"),
        _at("updated_at"),
        sa.CheckConstraint(
            "status IN ('planned', 'running', 'done', 'failed')",
            name=op.f("ck_background_sync_schedule_status"),
        ),
        sa.PrimaryKeyConstraint("id", name="pk_background_sync_schedule"),
        sa.UniqueConstraint(
            "plan_id", "slice_no", name="uq_background_sync_schedule_plan_id_slice_no"
        ),
        schema=SCHEMA,
    )
    _index("background_sync_schedule", "entity", "status")


def _field_mappings() -> None:
    op.create_table(
        "field_mappings",
        sa.Column("entity", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False, comment="0-based catalog order"),
        sa.Column("source_view", sa.String(128), nullable=False),
        sa.Column("source_column", sa.String(128), nullable=False),
        sa.Column("oracle_type", sa.String(64), nullable=False),
        sa.Column("target_field", sa.String(128), nullable=False),
        sa.Column("transforms", sa.Text(), nullable=False, comment="JSON list"),
        sa.Column("default_value", sa.Text(), nullable=True),
        sa.Column("required", sa.Boolean(), nullable=False),
        sa.Column("is_key", sa.Boolean(), nullable=False),
        sa.Column("parent_entity", sa.String(64), nullable=True),
        sa.Column("parent_uid_field", sa.String(128), nullable=True),
        sa.Column("parent_key", sa.String(128), nullable=True),
        _at("updated_at"),
        sa.PrimaryKeyConstraint("entity", "position", name="pk_field_mappings"),
        sa.UniqueConstraint("entity", "target_field", name="uq_field_mappings_entity_target_field"),
        schema=SCHEMA,
    )
