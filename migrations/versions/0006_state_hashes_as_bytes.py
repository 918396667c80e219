"""The state's key and data hashes as bytes on PostgreSQL (``bytea``).

``erp_sync_state.erp_key_hash`` (32 hex digits) and ``erp_data_hash`` (64) become the 16
and 32 bytes they spell. With millions of keys the state's primary key outgrows the
server's buffers, and every chunk of a background slice writes all over it: the smaller
the index, the fewer pages each chunk reads, dirties and logs again after a checkpoint.
Measured on 6M keys: the primary key 433 → 297 MB, the table 1,674 → 1,302 MB, and a
million more keys in chunks of 100,000 took 8.1–8.4 s instead of 11.8–12.4.

Code and frames still see lowercase hex text (``tables.HexBytes`` converts in SQL). Other
tables keep their key hashes as text: they are small, and never joined with the state.
SQLite keeps text (no change).

Rewrites the table (``ALTER COLUMN ... TYPE``): 24 s for 5M keys on a 2-core machine, under an
exclusive lock. A value that is not hex stops the migration, naming it.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = "bridge"
TABLE = "erp_sync_state"
#: column, its text type before this revision
HASHES = (
    ("erp_key_hash", sa.String(32, collation="C")),
    ("erp_data_hash", sa.String(64)),
)


def _alter(*, to_bytes: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    with op.batch_alter_table(TABLE, schema=SCHEMA) as table:
        for column, text_type in HASHES:
            table.alter_column(
                column,
                type_=postgresql.BYTEA() if to_bytes else text_type,
                existing_type=text_type if to_bytes else postgresql.BYTEA(),
                existing_nullable=False,
                # our own column names, no value
                postgresql_using=f"{'decode' if to_bytes else 'encode'}({column}, 'hex')",
            )


def upgrade() -> None:
    _alter(to_bytes=True)


def downgrade() -> None:
    _alter(to_bytes=False)
